"""The composer as an artist meets it in Chromium with a real worker: pick an aspect and a length chip and see
the size fields and the estimate follow, open Advanced, render, and watch the clip appear in the recent-clips
column and finish there without a reload, then play on hover. Screenshots of the page at 1280 and 390 px
(var/test-artefacts/screenshots/composer-desktop.png, composer-phone.png); at 390 px nothing scrolls sideways."""

import pytest

from access.models import Role
from generation.models import RenderJob
from tests.conftest import member
from tests.e2e.browser import RECORD_VIOLATIONS, page_as
from tests.e2e.conftest import screenshot_dir

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _estimate(page) -> str:
    return page.inner_text("#estimate .estimate-seconds")


def test_compose_with_chips_render_and_see_the_clip_arrive_beside_the_form(
    celery_worker, live_server, browser, settings, cohort
):
    settings.BACKLOT_PROGRESS_POLL_SECONDS = 0.2  # the recent column asks every second
    artist = member("artist@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    page = page_as(browser, live_server, artist)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{live_server.url}/clips/new/")
    page.wait_for_selector("#estimate .estimate-seconds")
    assert page.is_visible("#recent-clips:has-text('Your clips appear here')")
    assert not page.is_visible("input[name=width]"), "the raw size is folded under Advanced"

    before = _estimate(page)
    page.fill("textarea[name=prompt]", "a paper boat on a rain-swept street")
    page.click("button.chip:has-text('1:1')")
    assert (page.input_value("input[name=width]"), page.input_value("input[name=height]")) == ("576", "576")
    page.click("button.chip:has-text('1.0 s')")
    assert page.input_value("select[name=num_frames]") == "25"
    assert page.get_attribute("button.chip:has-text('1:1')", "aria-pressed") == "true"
    assert page.inner_text("#size-summary") == "576×576 px, 1.0 s (25 frames at 24 fps)"
    # The form asks for a new estimate on each change; wait for the figure to move off the default's.
    page.wait_for_function(f"() => document.querySelector('#estimate .estimate-seconds')?.innerText !== '{before}'")
    chipped = _estimate(page)

    page.click("details.advanced > summary")
    page.fill("input[name=num_steps]", "4")
    page.wait_for_function(f"() => document.querySelector('#estimate .estimate-seconds')?.innerText !== '{chipped}'")
    assert int(_estimate(page)) < int(chipped) < int(before)
    page.select_option("select[name=variations]", "2")
    page.wait_for_selector("#estimate:has-text('These 2 clips reserve')")
    page.select_option("select[name=variations]", "1")
    page.wait_for_selector("#estimate:has-text('This clip reserves')")

    page.evaluate("() => { window.sameDocument = true; }")  # gone if anything reloads the page
    page.click("button:has-text('Render')")
    page.wait_for_selector(".queued-note")
    job = RenderJob.objects.get()
    assert (job.width, job.height, job.num_frames, job.num_steps) == (576, 576, 25, 4)
    card = f"#recent-{job.pk}"
    page.wait_for_selector(card, timeout=5_000)  # at once: the queue event asks the column
    page.wait_for_selector(f"{card}[data-state=succeeded] img", timeout=120_000)
    page.wait_for_function(f"() => document.querySelector('{card} img').complete", timeout=10_000)
    assert page.input_value("textarea[name=prompt]") == "a paper boat on a rain-swept street"
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"

    page.hover(card)
    page.wait_for_function(
        f"() => {{ const v = document.querySelector('{card} video.hover-play'); return v && v.currentTime > 0; }}",
        timeout=15_000,
    )
    page.mouse.move(5, 5)
    page.wait_for_function(f"() => document.querySelector('{card} video.hover-play').paused", timeout=5_000)
    assert page.evaluate("window.__cspViolations") == []
    folder = screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "composer-desktop.png"), full_page=True)

    phone = page_as(browser, live_server, artist)
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{live_server.url}/clips/new/")
    phone.wait_for_selector("#estimate .estimate-seconds")
    assert phone.evaluate(OVERFLOW) <= 0, "the composer scrolls sideways at 390 px"
    form, column = phone.locator("#job-form").bounding_box(), phone.locator("#recent-clips").bounding_box()
    assert column["y"] > form["y"] + form["height"] - 1, "on a phone the recent clips come below the form"
    phone.screenshot(path=str(folder / "composer-phone.png"), full_page=True)
