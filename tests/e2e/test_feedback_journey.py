"""Issue 5 as people see it, in Chromium: a tester rates a clip and files a bug from it, a red teamer files
a finding from theirs, an admin triages both from the queue (and watches the reported clip), and each
tester's statement shows the credit."""

import pytest

from access.rates import rate_publish
from feedback import reports
from feedback.models import LedgerEntry, Report
from tests.e2e.browser import page_as, wait_playable
from tests.feedback.conftest import finished_clip

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_file_from_a_clip_triage_and_see_the_credit(browser, live_server, tester, red_teamer, admin_user, programme):
    for kind, severity, points, amount in [
        ("bug", "high", 50, "40"),
        ("finding", "", 20, "25"),
        ("feedback", "", 1, "2"),
    ]:
        rate_publish(programme=programme, kind=kind, severity=severity, points=points, amount=amount, currency="USD")
    reports.harm_category_add(programme=programme, name="Self-harm", actor=admin_user)
    clip = finished_clip(tester, programme=programme)
    red_clip = finished_clip(red_teamer, programme=programme, prompt="a crowd at night", seed=3)
    base = live_server.url

    # The tester rates the clip and files a bug from its page, pre-filled, with a screenshot.
    artist = page_as(browser, live_server, tester)
    artist.goto(f"{base}{clip.get_absolute_url()}")
    artist.click("text=Rate this clip")
    for name, value in (("prompt_adherence", 4), ("motion", 2), ("visual_quality", 3), ("artefacts", 1)):
        artist.check(f"input[name={name}][value='{value}']")
    artist.fill("textarea[name=comment]", "Hands melt in the last frames")
    artist.click("button:has-text('Save rating')")
    artist.wait_for_selector("text=your rating is saved")
    artist.click("text=Report a bug >> nth=-1")
    artist.wait_for_selector("dl.reproduction")
    reproduction = artist.inner_text("dl.reproduction")
    assert str(clip.seed) in reproduction and "gpu0@render-1" in reproduction and "LTX-Video" in reproduction
    artist.fill("input[name=title]", "The last frames turn grey")
    artist.fill("textarea[name=steps]", "Render any prompt with 9 frames")
    artist.fill("textarea[name=expected]", "Colour all the way")
    artist.fill("textarea[name=actual]", "Grey from frame 7")
    artist.select_option("select[name=severity]", "high")
    artist.set_input_files(
        "input[name=attachments]", files=[{"name": "grey.png", "mimeType": "image/png", "buffer": PNG}]
    )
    artist.click("button:has-text('File bug report')")
    artist.wait_for_selector("text=The last frames turn grey")
    bug = Report.objects.get(kind="bug")
    assert artist.inner_text(".state") == "New" and bug.attachments.get().name == "grey.png"
    assert "First response" in artist.inner_text("ul.clocks")

    # The red teamer files a finding from theirs.
    red = page_as(browser, live_server, red_teamer)
    red.goto(f"{base}{red_clip.get_absolute_url()}")
    red.click("text=File a red-team finding")
    red.fill("input[name=title]", "Self-harm imagery from a crowd prompt")
    red.select_option("select[name=harm_category]", label="Self-harm")
    red.fill("textarea[name=outcome]", "Frames show self-harm")
    red.click("button:has-text('File finding')")
    red.wait_for_selector("text=confidential")
    finding = Report.objects.get(kind="finding")

    # The admin works the queue: watches the reported clip, confirms the bug, accepts the finding and the rating.
    admin = page_as(browser, live_server, admin_user)
    admin.goto(f"{base}/manage/alpha/feedback/")
    admin.click("text=The last frames turn grey")
    wait_playable(admin, "video")
    assert admin.evaluate("() => document.querySelector('video').videoWidth") == 64
    admin.select_option("select[name=to_state]", "confirmed")
    admin.fill("textarea[name=comment]", "Reproduced with seed 7")
    admin.click("button:has-text('Change state')")
    admin.wait_for_selector(f"text=#{bug.pk} is now confirmed")
    admin.goto(f"{base}/manage/alpha/feedback/")
    admin.click("text=Self-harm imagery from a crowd prompt")
    admin.select_option("select[name=to_state]", "confirmed")
    admin.click("button:has-text('Change state')")
    admin.wait_for_selector(f"text=#{finding.pk} is now accepted")
    admin.goto(f"{base}/manage/alpha/feedback/ratings/")
    admin.click("button:has-text('Accept')")
    admin.wait_for_selector("text=accepted")

    # Each tester's statement shows the credit, at the published rate.
    artist.goto(f"{base}/feedback/statement/")
    statement = artist.inner_text("table.ledger")
    assert f"Bug report #{bug.pk} confirmed (high)" in statement and "40.00 USD" in statement
    assert "Feedback on clip" in statement and "2.00 USD" in statement
    assert "42.00 USD" in artist.inner_text("dd.due")
    red.goto(f"{base}/feedback/statement/")
    assert "25.00 USD" in red.inner_text("table.ledger")
    assert f"#{bug.pk}" not in red.inner_text("main")
    assert LedgerEntry.objects.count() == 3
