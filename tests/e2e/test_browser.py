"""The thin path as a person sees it, in Chromium: sign in, submit a prompt, watch the bar move,
play the clip. The render happens in the real worker process."""

import pytest

from access.models import Role
from tests.conftest import member
from tests.e2e.browser import advanced_open, queued_clip_open, raw_settings, wait_playable

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base_url, email, password):
    page.goto(f"{base_url}/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/clips/")


def test_sign_in_render_watch_progress_and_play(celery_worker, live_server, page, settings, password, cohort):
    settings.BACKLOT_PROGRESS_POLL_SECONDS = 0.2
    member("artist@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    _sign_in(page, live_server.url, "artist@example.org", password)

    page.click("text=Generate a clip")
    page.fill("textarea[name=prompt]", "a golden horse running through snow, cinematic")
    raw_settings(page, frames=49, width=704, height=480, steps=30)
    page.fill("input[name=seed]", "7")
    page.click("button:has-text('Render')")
    queued_clip_open(page)

    page.wait_for_selector("text=a golden horse running through snow")
    page.evaluate("() => { window.sameDocument = true; }")  # gone if anything reloads the page
    page.wait_for_function(
        "() => { const bar = document.querySelector('#job-progress');"
        " return bar && bar.value > 0 && bar.value < 100; }",
        timeout=120_000,
        polling=50,
    )
    page.wait_for_selector("video#clip", timeout=120_000)
    wait_playable(page)
    video = page.evaluate(
        """async () => {
            const v = document.querySelector('video#clip');
            v.muted = true;
            await v.play();
            await new Promise(resolve => setTimeout(resolve, 300));
            return {width: v.videoWidth, height: v.videoHeight, duration: v.duration, time: v.currentTime,
                    error: v.error && v.error.code};
        }"""
    )
    assert video["error"] is None
    assert (video["width"], video["height"]) == (704, 480)
    assert video["duration"] == pytest.approx(49 / 24, abs=0.05)
    assert video["time"] > 0, "the clip plays"
    assert page.locator(".state").first.inner_text() == "Succeeded"
    # The page became the finished clip on the poll that saw it finish: times, file and actions, no reload.
    page.wait_for_selector("a:has-text('Rate this clip')", timeout=5_000)
    assert page.locator("#job-settings dt:has-text('Finished')").count() == 1
    assert page.locator("#job-settings dt:has-text('File')").count() == 1
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
    video_src = live_server.url + page.get_attribute("video#clip", "src")

    page.click("text=My clips")
    assert page.locator(".gallery .clip-card").count() == 1
    page.wait_for_function(
        "() => { const img = document.querySelector('.clip-card img'); return img && img.complete; }", timeout=10_000
    )
    poster = page.evaluate(
        "() => { const img = document.querySelector('.clip-card img'); return [img.naturalWidth, img.naturalHeight]; }"
    )
    assert poster == [480, 327], "the poster frame loads through its signed link, scaled to 480 px wide"

    page.click(".clip-card .card-prompt a")
    page.click("a:has-text('Delete')")
    page.click("button:has-text('Delete clip')")
    page.wait_for_url(f"{live_server.url}/clips/")
    assert page.locator("text=No clips yet.").is_visible()
    assert page.goto(video_src).status == 403, "the deleted clip's link stops working"


def test_bad_input_is_explained_on_the_form(celery_worker, live_server, page, password, cohort):
    member("artist2@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    _sign_in(page, live_server.url, "artist2@example.org", password)

    page.goto(f"{live_server.url}/clips/new/")
    page.fill("textarea[name=prompt]", "a heron")
    page.select_option("select[name=model_key]", "wan2.1-1.3b")  # the form redraws with Wan's choices
    page.wait_for_selector("select[name=num_frames] option[value='81']:checked", state="attached")
    assert page.input_value("textarea[name=prompt]") == "a heron"
    page.fill("textarea[name=prompt]", "")
    advanced_open(page)
    page.fill("input[name=width]", "700")
    page.click("button:has-text('Render')")

    assert page.locator(".field-prompt .errorlist").inner_text() == "This field is required."
    assert "multiple of 16" in page.locator(".field-width .errorlist").inner_text()
    page.goto(f"{live_server.url}/clips/")
    assert page.locator("text=No clips yet.").is_visible()
