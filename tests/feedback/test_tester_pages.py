"""Tester pages: rate a clip, file a bug from a clip (pre-filled) or from any page, see your own reports
and statement; nobody else's."""

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from feedback import reports
from feedback.models import Attachment, ClipRating, Report
from generation.encoding import probe_mp4
from tests.factories import stored_image
from tests.feedback.conftest import finished_clip

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _bug_post(**extra):
    return {
        "title": "Last frames are grey",
        "steps": "Render with 9 frames",
        "expected": "Colour",
        "actual": "Grey",
        "severity": "high",
        "credit_name": "Tess",
        **extra,
    }


def test_a_clip_page_offers_rating_reporting_and_showcase(tester_client, clip):
    page = tester_client.get(clip.get_absolute_url()).content.decode()
    assert f"/feedback/clips/{clip.pk}/rate/" in page and f"/feedback/clips/{clip.pk}/bug/" in page
    assert "File a red-team finding" not in page  # only red teamers file findings
    assert "Offer this clip" in page and 'name="csrfmiddlewaretoken"' in page


def test_a_tester_rates_their_clip_and_can_change_it_until_it_is_reviewed(tester_client, tester, clip):
    url = f"/feedback/clips/{clip.pk}/rate/"
    scores = {"prompt_adherence": 4, "motion": 2, "visual_quality": 3, "artefacts": 1}
    response = tester_client.post(url, {**scores, "comment": "Hands melt", "tags": "Hands, melting, hands"})
    assert response.status_code == 302
    rating = ClipRating.objects.get(job=clip, author=tester)
    assert (rating.motion, rating.tags, rating.model_key) == (2, ["hands", "melting"], "ltx-video")
    tester_client.post(url, {**scores, "motion": 5})
    rating.refresh_from_db()
    assert rating.motion == 5 and ClipRating.objects.count() == 1


@pytest.mark.parametrize("bad", [{"motion": 6}, {"motion": 0}, {"motion": "great"}, {"motion": ""}])
def test_bad_ratings_are_refused_and_change_nothing(tester_client, clip, bad):
    data = {"prompt_adherence": 4, "motion": 2, "visual_quality": 3, "artefacts": 1, **bad}
    response = tester_client.post(f"/feedback/clips/{clip.pk}/rate/", data)
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not ClipRating.objects.exists()


def test_nobody_rates_or_reports_someone_elses_clip(client, tester2, outsider, clip):
    for person in (tester2, outsider):
        client.force_login(person)
        for path in ("rate/", "bug/", "finding/"):
            assert client.get(f"/feedback/clips/{clip.pk}/{path}").status_code == 404
        assert client.post(f"/feedback/clips/{clip.pk}/bug/", _bug_post()).status_code == 404
        assert client.post(f"/feedback/clips/{clip.pk}/showcase/", {"credit_name": "Thief"}).status_code == 404
    assert not Report.objects.exists() and not ClipRating.objects.exists()


def test_a_bug_filed_from_a_clip_carries_everything_to_reproduce_it(tester_client, tester, clip, admin_client):
    form = tester_client.get(f"/feedback/clips/{clip.pk}/bug/").content.decode()
    for shown in ("LTX-Video", str(clip.seed), "gpu0@render-1", "9 frames", "guidance 3.0", clip.prompt):
        assert shown in form
    response = tester_client.post(f"/feedback/clips/{clip.pk}/bug/", _bug_post())
    report = Report.objects.get()
    assert response.status_code == 302 and response.url == report.get_absolute_url()
    reproduction = report.reproduction
    assert reproduction["seed"] == clip.seed and reproduction["worker"] == "gpu0@render-1"
    assert reproduction["num_frames"] == 9 and reproduction["gpu_seconds"] == 9.5
    assert reproduction["prompt"] == clip.prompt and reproduction["model_key"] == "ltx-video"
    assert reproduction["started_at"] and reproduction["finished_at"] and reproduction["clip"]
    assert (report.kind, report.severity, report.credit_name, report.job) == ("bug", "high", "Tess", clip)

    # The admin who triages it can watch the clip itself: a real H.264 file.
    video = b"".join(admin_client.get(f"/feedback/reports/{report.pk}/clip.mp4").streaming_content)
    assert probe_mp4(video) | {"fps": None} == {"codec": "h264", "width": 64, "height": 64, "frames": 9, "fps": None}


def test_a_bug_is_filed_from_any_page_with_attachments(tester_client, tester):
    log = SimpleUploadedFile("worker.log", b"step 1/2\nstep 2/2\nCUDA error\n", content_type="text/plain")
    shot = SimpleUploadedFile("screen.png", PNG, content_type="image/png")
    response = tester_client.post("/feedback/bugs/new/?from=/clips/", _bug_post(attachments=[log, shot]))
    assert response.status_code == 302
    report = Report.objects.get()
    assert (report.job, report.page_url) == (None, "/clips/")
    assert sorted(Attachment.objects.values_list("name", "content_type")) == [
        ("screen.png", "image/png"),
        ("worker.log", "text/plain"),
    ]
    attachment = report.attachments.get(name="worker.log")
    body = b"".join(tester_client.get(f"/feedback/reports/{report.pk}/attachments/{attachment.pk}/").streaming_content)
    assert body.endswith(b"CUDA error\n")
    part = tester_client.get(f"/feedback/reports/{report.pk}/attachments/{attachment.pk}/", HTTP_RANGE="bytes=-11")
    assert part.status_code == 206 and b"".join(part.streaming_content) == b"CUDA error\n"
    assert part["Content-Range"] == f"bytes {len(body) - 11}-{len(body) - 1}/{len(body)}"
    assert part["X-Content-Type-Options"] == "nosniff" and part["Content-Disposition"].startswith("inline;")


def test_oversized_and_unknown_attachments_are_refused_and_nothing_is_filed(tester_client, settings):
    settings.FEEDBACK_ATTACHMENT_MAX_BYTES = 1000
    big = SimpleUploadedFile("huge.png", PNG + b"\x00" * 2000, content_type="image/png")
    response = tester_client.post("/feedback/bugs/new/", _bug_post(attachments=[big]))
    assert response.status_code == 400
    assert "huge.png is 2.0\xa0KB; attachments are at most 1000\xa0bytes." in response.content.decode()
    binary = SimpleUploadedFile("tool.png", b"MZ\x90\x00\x03" + bytes(range(256)), content_type="image/png")
    response = tester_client.post("/feedback/bugs/new/", _bug_post(attachments=[binary]))
    assert response.status_code == 400 and "not a file type that can be attached" in response.content.decode()
    assert not Report.objects.exists() and not Attachment.objects.exists()


@pytest.mark.parametrize("bad", [{"title": ""}, {"severity": "apocalyptic"}, {"steps": ""}, {"title": "x" * 201}])
def test_bad_reports_are_refused_and_change_nothing(tester_client, bad):
    response = tester_client.post("/feedback/bugs/new/", _bug_post(**bad))
    assert response.status_code == 400 and "errorlist" in response.content.decode()
    assert not Report.objects.exists()


def test_testers_see_their_own_reports_and_never_anyone_elses(client, tester, tester2, outsider, reviewer, clip):
    mine = reports.report_file(reporter=tester, kind="bug", title="Mine: grey frames", job=clip, steps="s")
    client.force_login(tester)
    assert "Mine: grey frames" in client.get("/feedback/").content.decode()
    assert client.get(mine.get_absolute_url()).status_code == 200
    for person in (tester2, outsider, reviewer):
        client.force_login(person)
        assert "Mine: grey frames" not in client.get("/feedback/").content.decode()
        for path in ("", "clip.mp4", f"attachments/{mine.pk}/"):
            assert client.get(f"/feedback/reports/{mine.pk}/{path}").status_code == 404
            assert client.get(f"/feedback/reports/{mine.pk}/{path}", HTTP_RANGE="bytes=0-9").status_code == 404
        assert client.post(f"/feedback/reports/{mine.pk}/comment/", {"body": "hi"}).status_code == 404
    client.force_login(tester)
    seek = client.get(f"/feedback/reports/{mine.pk}/clip.mp4", HTTP_RANGE="bytes=4-7")
    assert seek.status_code == 206 and b"".join(seek.streaming_content) == b"ftyp", "the reporter can seek in it"
    assert mine.events.count() == 1


def test_the_tester_is_told_at_each_change_and_their_statement_shows_the_credit(
    client, tester, tester2, admin_user, rates, clip, django_capture_on_commit_callbacks
):
    report = reports.report_file(
        reporter=tester, kind="bug", title="Grey frames", job=clip, steps="s", severity="critical"
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):  # mail goes once the change commits
        reports.report_transition(report=report, to_state="triaged", actor=admin_user)
        reports.report_comment(report=report, author=admin_user, body="Can reproduce.")
        reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    subjects = [message.subject for message in mail.outbox]
    assert all(message.to == [tester.email] for message in mail.outbox)
    assert any("now triaged" in subject for subject in subjects)
    assert any("now confirmed" in subject for subject in subjects)
    assert any("New comment" in subject for subject in subjects)
    assert any("Credited" in subject for subject in subjects)

    client.force_login(tester)
    statement = client.get("/feedback/statement/").content.decode()
    assert f"Bug report #{report.pk} confirmed (critical)" in statement
    assert "100.00 USD" in statement and "Confirmed bug report (critical): 100 points" in statement
    notifications = client.get("/feedback/notifications/").content.decode()
    assert f"#{report.pk} is now confirmed" in notifications
    client.force_login(tester2)
    assert f"#{report.pk}" not in client.get("/feedback/statement/").content.decode()
    assert f"#{report.pk}" not in client.get("/feedback/notifications/").content.decode()


def test_the_file_a_bug_link_is_on_every_page(tester_client):
    page = tester_client.get("/clips/").content.decode()
    assert "/feedback/bugs/new/?from=/clips/" in page


def test_an_empty_attachment_is_refused(tester_client):
    weird = SimpleUploadedFile("empty.txt", b"", content_type="text/plain")
    response = tester_client.post("/feedback/bugs/new/", _bug_post(attachments=[weird]))
    assert response.status_code == 400
    assert not Report.objects.exists()


def test_a_failed_render_can_be_reported_with_its_error(tester_client, tester, programme):
    from access.models import Grant
    from tests.factories import RenderJobFactory

    failed = RenderJobFactory(
        owner=tester,
        grant=Grant.objects.get(user=tester, programme=programme),
        state="failed",
        error="CUDA out of memory at step 3",
        worker="gpu1@render-2",
    )
    page = tester_client.get(failed.get_absolute_url()).content.decode()
    assert f"/feedback/clips/{failed.pk}/bug/" in page
    assert "Rate this clip" not in page and "Offer this clip" not in page
    tester_client.post(f"/feedback/clips/{failed.pk}/bug/", _bug_post())
    assert Report.objects.get().reproduction["error"] == "CUDA out of memory at step 3"
    scores = {"prompt_adherence": 1, "motion": 1, "visual_quality": 1, "artefacts": 1}
    assert tester_client.post(f"/feedback/clips/{failed.pk}/rate/", scores).status_code == 400
    assert not ClipRating.objects.exists()


# A report carries what its clip was made from: mode, input images, source clip.


def test_a_bug_from_a_keyframes_clip_shows_the_triager_its_images(
    tester_client, tester, tester2, clip, admin_client, client
):
    first, last = stored_image(tester, (200, 40, 40)), stored_image(tester, (10, 10, 200))
    clip.mode, clip.image, clip.last_image = "keyframes", first, last
    clip.save(update_fields=["mode", "image", "last_image"])

    tester_client.post(f"/feedback/clips/{clip.pk}/bug/", _bug_post())

    report = Report.objects.get()
    reproduction = report.reproduction
    assert (reproduction["mode"], reproduction["image"], reproduction["last_image"]) == (
        "keyframes",
        str(first.pk),
        str(last.pk),
    )
    assert reproduction["image_file"] == f"PNG 96x64, {first.bytes} bytes, sha256 {first.sha256}"
    page = admin_client.get(report.get_absolute_url()).content.decode()
    assert "Start image" in page and "Last frame" in page and first.sha256 in page
    for which, image in (("image", first), ("last_image", last)):
        url = f"/feedback/reports/{report.pk}/inputs/{which}/"
        assert f'src="{url}"' in page
        response = admin_client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        body = b"".join(response.streaming_content)
        with image.file.open("rb") as stored:
            assert body == stored.read()
    # Nobody who may not see the report sees its inputs; a report has no third image.
    assert admin_client.get(f"/feedback/reports/{report.pk}/inputs/source/").status_code == 404
    client.force_login(tester2)
    assert client.get(f"/feedback/reports/{report.pk}/inputs/image/").status_code == 404
    assert client.get(report.get_absolute_url()).status_code == 404


def test_a_bug_from_an_extended_clip_shows_the_triager_the_source_clip(tester_client, tester, programme, admin_client):
    source = finished_clip(tester, programme=programme, prompt="a kite over a hill", seed=11)
    extended = finished_clip(tester, programme=programme, prompt="the kite flies on", seed=12)
    extended.mode, extended.source = "extend", source
    extended.save(update_fields=["mode", "source"])

    tester_client.post(f"/feedback/clips/{extended.pk}/bug/", _bug_post())

    report = Report.objects.get()
    assert {key: report.reproduction[key] for key in ("mode", "source", "source_prompt", "source_seed")} == {
        "mode": "extend",
        "source": str(source.pk),
        "source_prompt": "a kite over a hill",
        "source_seed": 11,
    }
    assert "image" not in report.reproduction and "strength" not in report.reproduction
    page = admin_client.get(report.get_absolute_url()).content.decode()
    assert "Source clip" in page and "a kite over a hill" in page
    video = b"".join(admin_client.get(f"/feedback/reports/{report.pk}/source.mp4").streaming_content)
    with source.output.open("rb") as stored:
        assert video == stored.read()
    assert admin_client.get(f"/feedback/reports/{report.pk}/inputs/image/").status_code == 404
