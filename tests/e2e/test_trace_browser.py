"""Issue 13 as an admin sees it, in Chromium: a leaked copy of a clip, cropped, halved and re-encoded at CRF 30
(a chain of what leakers do), uploaded with a clean copy to the trace page, names the job, the person, the
time and what its Content Credentials say (none: the re-encode stripped them)."""

import pytest
from django.utils import dateformat, timezone

from access.policy import current_grant
from generation import watermark
from generation.credentials import credentials_read, credentials_sign
from generation.encoding import encode_mp4
from tests.e2e.browser import page_as
from tests.factories import RenderJobFactory
from tests.generation.clips import crop, half_size, moving_scene
from tests.generation.conftest import SMOKE_RENDER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_admin_traces_a_leaked_copy_on_the_trace_page(browser, live_server, admin_user, tester, c2pa_signing):
    job = RenderJobFactory(owner=tester, grant=current_grant(tester), **(SMOKE_RENDER | {"width": 512, "height": 512}))
    delivered = credentials_sign(encode_mp4(watermark.mark_clip(moving_scene(49, 512, 512), job), fps=24), job)
    assert credentials_read(delivered).status == "valid"
    leaked = half_size(crop(delivered, fraction=0.1, top=13, left=7), crf=30)
    unrelated = encode_mp4(moving_scene(24, 256, 256, seed=4), fps=24)

    admin = page_as(browser, live_server, admin_user)
    admin.goto(f"{live_server.url}/leak-alerts/")
    admin.click("a[href='/leak-alerts/trace/']")
    admin.set_input_files(
        "input[name=clip]",
        files=[
            {"name": "found-on-a-forum.mp4", "mimeType": "video/mp4", "buffer": leaked},
            {"name": "holiday.mp4", "mimeType": "video/mp4", "buffer": unrelated},
        ],
    )
    admin.click("button:has-text('Trace')")
    admin.wait_for_selector("text=2 clips traced", timeout=60_000)

    leak_row, other_row = admin.locator("tr.trace-row").all()
    row = leak_row.inner_text()
    queued = dateformat.format(timezone.localtime(job.queued_at), "Y-m-d H:i:s T")
    assert "found-on-a-forum.mp4" in row and f"Mark found: job {job.job_code}" in row
    assert tester.email in row and job.grant.programme.name in row and queued in row
    expected = credentials_read(leaked)
    assert expected.status == "absent", "the re-encode stripped the manifest: the invisible mark names the job"
    assert "Identified by the mark." in row
    assert leak_row.locator("td.c2pa").inner_text() == f"Content Credentials (C2PA): absent. {expected.describe()}"
    assert "holiday.mp4" in other_row.inner_text() and "No mark found." in other_row.inner_text()
