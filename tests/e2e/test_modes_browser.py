"""Creative modes as an artist meets them in Chromium with a real worker: upload an image on the generate
page and render from it, then extend the finished clip from its page and follow the lineage back."""

import pytest
from PIL import Image

from access.models import Role
from generation.models import RenderJob
from tests.conftest import member
from tests.e2e.browser import advanced_open, queued_clip_open
from tests.e2e.test_browser import _sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait_playable(page):
    page.wait_for_selector("video#clip", timeout=120_000)
    page.wait_for_function("() => document.querySelector('video#clip').readyState >= 2", timeout=30_000)


def test_image_to_video_then_extend_and_see_the_lineage(
    celery_worker, live_server, page, settings, password, cohort, tmp_path
):
    settings.BACKLOT_PROGRESS_POLL_SECONDS = 0.2
    member("artist@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    still = tmp_path / "still.png"
    Image.new("RGB", (320, 200), (220, 60, 30)).save(still)
    _sign_in(page, live_server.url, "artist@example.org", password)

    page.goto(f"{live_server.url}/clips/new/")
    page.fill("textarea[name=prompt]", "a red bird over the sea")
    page.check("input[name=mode][value=image_to_video]")
    page.set_input_files("input[name=image]", str(still))
    advanced_open(page)
    page.select_option("select[name=num_frames]", "17")
    page.fill("input[name=width]", "192")
    page.fill("input[name=height]", "128")
    page.fill("input[name=num_steps]", "4")
    page.click("button:has-text('Render')")
    queued_clip_open(page)

    page.wait_for_selector("text=Image to video")
    _wait_playable(page)
    first = RenderJob.objects.get()
    assert first.mode == "image_to_video" and first.image.width == 320
    assert page.is_visible("text=PNG 320×200")

    page.reload()  # the clip's actions are drawn with the page, not by the live status (issue 14, item 3)
    page.click("a.mode-action:has-text('Extend')")
    page.wait_for_url("**/clips/new/?derive=*")
    assert page.is_checked("input[name=mode][value=extend]")
    page.click("button:has-text('Render')")
    queued_clip_open(page)
    page.wait_for_selector("text=Extend a clip")
    _wait_playable(page)
    extended = RenderJob.objects.get(mode="extend")
    assert extended.source == first and extended.state == RenderJob.State.SUCCEEDED

    page.click(f"a:has-text('clip {first.short_id}')")
    page.wait_for_selector(f"text=Extend a clip: clip {extended.short_id}")
