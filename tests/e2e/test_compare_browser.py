"""The library as an artist meets it in Chromium: star a clip on the gallery (htmx), show only favourites, put a
clip in a new collection from its page, tick two clips and compare them, press play once and see both videos run
together; at a phone's width the two stack. No job is rendered on this path, so no worker is needed: the clips are
real H.264 MP4s in storage, as a worker leaves them."""

import time

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from access.models import Grant, Role
from generation.encoding import encode_mp4
from generation.models import Collection, CollectionItem, Favourite
from generation.poster import poster_jpeg
from tests.conftest import member
from tests.e2e.browser import RECORD_VIOLATIONS, session_cookie
from tests.e2e.conftest import screenshot_dir
from tests.factories import RenderJobFactory
from tests.generation.clips import moving_scene

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FPS = 24
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
AT_ONE_SECOND = "v => Math.abs(v.currentTime - 1.0104) < 0.1"  # a quarter of the longer clip (97 frames)
# compare.js has read both clips into blob: URLs (seekable anywhere) and each can show a frame.
READY = """() => document.querySelector('[data-compare-ready]') !== null && Array.from(
  document.querySelectorAll('video[data-compare-video]')).every(v => v.src.startsWith('blob:') && v.readyState >= 2)"""
TIMES = "() => Array.from(document.querySelectorAll('video[data-compare-video]')).map(v => v.currentTime)"


def _clip(owner, programme, *, prompt: str, seed: int, frames: int, width: int = 192, height: int = 128):
    """A finished clip of ``frames`` frames (a few seconds at 24 fps) with its poster, as a worker stores it."""
    scene = moving_scene(frames, height, width, seed=seed)
    job = RenderJobFactory(
        owner=owner,
        grant=Grant.objects.get(user=owner, programme=programme),
        prompt=prompt,
        seed=seed,
        num_frames=frames,
        width=width,
        height=height,
        state="succeeded",
        worker="gpu0@render-1",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        gpu_seconds=4.2,
    )
    job.output.save(f"{job.pk}.mp4", ContentFile(encode_mp4(scene, fps=FPS)), save=False)
    job.poster.save(f"{job.pk}.jpg", ContentFile(poster_jpeg(scene)), save=False)
    job.output_bytes = job.output.size
    job.save(update_fields=["output", "poster", "output_bytes"])
    return job


def test_star_filter_collect_and_compare_two_clips_played_together(live_server, browser, cohort, programme):
    base = live_server.url
    tester = member("artist@example.org", programme=programme, role=Role.ARTIST, cohort=cohort)
    storm = _clip(tester, programme, prompt="a paper boat in a storm", seed=7, frames=97)  # 4 s
    dawn = _clip(tester, programme, prompt="a paper boat at dawn", seed=8, frames=73)  # 3 s
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    context.add_cookies([session_cookie(tester, base)])
    page = context.new_page()
    console = []
    page.on("console", lambda message: message.type == "error" and console.append(message.text))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))

    # Star the storm on the gallery: htmx swaps the button, the page stays.
    page.goto(f"{base}/clips/")
    star = f"#card-{storm.pk} form.favourite button"
    assert page.get_attribute(star, "aria-pressed") == "false"
    page.click(star)
    page.wait_for_selector(f"{star}[aria-pressed=true]")
    assert page.url == f"{base}/clips/", "starred in place, without a reload"
    assert list(Favourite.objects.values_list("job_id", flat=True)) == [storm.pk]

    # Only favourites.
    page.check("input[name=favourites]")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**favourites=on**")
    assert page.locator(".gallery .clip-card").count() == 1 and page.is_visible(f"#card-{storm.pk}")

    # A new collection, from the clip's page.
    page.goto(f"{base}/clips/{storm.pk}/")
    page.fill("input[name=new_name]", "Boats")
    page.click("form.collection-add button[type=submit]")
    page.wait_for_selector("text=is in the collection 'Boats'")
    collection = Collection.objects.get(owner=tester)
    assert list(CollectionItem.objects.values_list("collection__name", "job_id")) == [("Boats", storm.pk)]
    page.click(f"a[href='/clips/collections/{collection.pk}/']")
    page.wait_for_selector(f"#card-{storm.pk}")

    # Tick both clips on the gallery and compare them.
    page.goto(f"{base}/clips/")
    page.check(f"#card-{storm.pk} input[name=clips]")
    page.check(f"#card-{dawn.pk} input[name=clips]")
    page.click("#compare-form button[type=submit]")
    page.wait_for_url("**/clips/compare/*/*/")
    page.wait_for_function(
        READY,
        timeout=30_000,
    )
    assert page.is_visible("[data-compare-controls]"), "the script shows the shared controls"
    assert page.locator("video[data-compare-video][controls]").count() == 0, "and takes each video's own away"
    assert page.locator("table.compare-settings tr.differs").count() >= 3  # prompt, seed, frames, render time...

    # One press plays both, together.
    page.click("[data-compare-play]")
    samples = []
    started = time.monotonic()
    while time.monotonic() - started < 2.0:  # both clips are 3 s or longer
        samples.append(page.evaluate(TIMES))
        time.sleep(0.25)
    assert page.inner_text("[data-compare-play]") == "Pause both"
    assert samples[-1][0] > samples[0][0] + 1.0 and samples[-1][1] > samples[0][1] + 1.0, f"both advance: {samples}"
    drift = max(abs(left - right) for left, right in samples)
    assert drift <= 0.2, f"they drift apart by {drift:.3f} s: {samples}"
    print(f"compare: {len(samples)} samples over 2 s, the two clips at most {drift * 1000:.0f} ms apart")
    screenshots = screenshot_dir()
    screenshots.mkdir(parents=True, exist_ok=True)

    # Pause stops both at the same moment; the slider moves both.
    page.click("[data-compare-play]")
    paused = page.evaluate(TIMES)
    time.sleep(0.3)
    assert page.evaluate(TIMES) == paused and abs(paused[0] - paused[1]) <= 0.2
    page.screenshot(path=str(screenshots / "compare-desktop.png"), full_page=True)
    page.fill("[data-compare-seek]", "250")  # a quarter of the longer clip: 1 s
    page.dispatch_event("[data-compare-seek]", "input")
    page.wait_for_function(f"() => Array.from(document.querySelectorAll('video')).every({AT_ONE_SECOND})")

    # A phone: the two stack, and nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_function(
        READY,
        timeout=30_000,
    )
    first, second = (page.locator("video[data-compare-video]").nth(n).bounding_box() for n in (0, 1))
    assert second["y"] >= first["y"] + first["height"], f"stacked: {first} above {second}"
    assert abs(second["x"] - first["x"]) < 2 and first["width"] <= 390
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(screenshots / "compare-phone.png"), full_page=True)

    assert page.evaluate("() => window.__cspViolations") == []
    assert console == [], console
    context.close()
