"""Tracing leaked clips back to the job and person, by the service, the `trace` command and the staff
page; and the marks and Content Credentials that a real render leaves in its stored MP4."""

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from access.models import AuditEvent, Role
from access.policy import current_grant
from access.programmes import programme_create
from generation import render, submission, trace, watermark
from generation.credentials import credentials_read, credentials_sign
from generation.encoding import encode_mp4
from generation.models import RenderJob, job_code
from tests.conftest import member, with_totp
from tests.factories import RenderJobFactory, job_settings
from tests.generation.clips import crop, decode, half_size, moving_scene, reencode
from tests.generation.conftest import SMOKE_RENDER

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(tester, c2pa_signing):
    return RenderJobFactory(owner=tester, grant=current_grant(tester), **SMOKE_RENDER)


def delivered(job, frames) -> bytes:
    """The clip as job_render stores it: both marks, and signed Content Credentials."""
    return credentials_sign(encode_mp4(watermark.mark_clip(frames, job), fps=24), job)


@pytest.fixture
def clip(job):
    return delivered(job, moving_scene())


def test_every_job_gets_its_own_random_mark_code(tester):
    jobs = [RenderJobFactory(owner=tester, grant=current_grant(tester)) for _ in range(5)]
    codes = [job.mark_code for job in jobs]
    assert len(set(codes)) == 5 and all(0 <= code < 2**32 for code in codes)
    assert codes != sorted(codes) or codes != list(range(codes[0], codes[0] + 5))
    assert all(len(job.job_code) == 7 and job.job_code == job_code(job.mark_code) for job in jobs)


def test_jobs_created_through_the_service_have_a_mark_code(tester):
    job = submission.job_create(owner=tester, **job_settings())
    assert RenderJob.objects.get(pk=job.pk).mark_code == job.mark_code


def test_a_rendered_jobs_stored_clip_carries_both_marks_and_valid_credentials(smoke_model, smoke_frames, job, settings):
    render.job_render(job_id=job.pk, worker="w")

    job.refresh_from_db()
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    with job.output.open("rb") as stored:
        data = stored.read()
    decoded = decode(data)
    assert watermark.read_invisible(decode(data, "gray")) == job.mark_code
    # The same seed renders the same frames. Averaged over the frames (the compression error of noise
    # averages away), the clip differs from the unmarked render by the stamp where its letters are, and
    # elsewhere only by the invisible mark.
    difference = np.abs((decoded.astype(float) - smoke_frames).mean(axis=(0, 3)))
    stamp = watermark.mark_visible(
        smoke_frames[:1], f"Alpha · {job.job_code}", opacity=settings.BACKLOT_WATERMARK_OPACITY
    )
    letters = (stamp != smoke_frames[:1]).any(axis=(0, 3))
    assert letters[-30:, -130:].sum() > 100 and not letters[:200].any()
    assert difference[letters].mean() > 4 * difference[~letters].mean()
    credentials = credentials_read(data)
    assert credentials.status == "valid", credentials.describe()
    assert (credentials.job_code, credentials.programme) == (job.job_code, job.grant.programme.slug)
    assert credentials.model == "ltx-video"


@pytest.mark.parametrize(
    "leak",
    [lambda data: reencode(data, crf=35), half_size, lambda data: crop(data, fraction=0.1, top=13, left=7)],
    ids=["crf35", "half-size", "crop-10pc"],
)
def test_a_leaked_copy_is_traced_to_the_job_person_and_time(clip, job, tester, admin_user, leak):
    copy = leak(clip)
    assert credentials_read(copy).status == "absent", "a re-encode drops the manifest; the mark must carry the job"

    result = trace.trace_clip(copy, actor=admin_user, ip="203.0.113.9", filename="leak.mp4")

    assert result.found and result.job == job and result.job.owner == tester
    assert str(job.pk) in result.message and tester.email in result.message
    assert (result.credentials.status, result.identified_by) == ("absent", "mark")
    event = AuditEvent.objects.get(action="generation.clip_traced")
    assert (event.actor, event.subject, event.programme, event.target) == (
        admin_user,
        tester,
        job.grant.programme,
        str(job.pk),
    )
    assert event.data["result"] == "found" and event.data["job_code"] == job.job_code
    assert event.data["filename"] == "leak.mp4" and event.ip == "203.0.113.9"


def test_the_smoke_models_render_is_traced_after_a_leak(smoke_frames, job, admin_user):
    copy = half_size(delivered(job, smoke_frames))
    assert trace.trace_clip(copy, actor=admin_user).job == job


def test_an_unmarked_clip_says_no_mark_found(admin_user):
    result = trace.trace_clip(encode_mp4(moving_scene(), fps=24), actor=admin_user)
    assert (result.status, result.job, result.message) == ("no_mark", None, "No mark found.")
    assert AuditEvent.objects.get(action="generation.clip_traced").data["result"] == "no_mark"


def test_a_mark_of_no_known_job_is_not_attributed(admin_user):
    code = 123456789
    assert not RenderJob.objects.filter(mark_code=code).exists()
    result = trace.trace_clip(encode_mp4(watermark.mark_invisible(moving_scene(), code), fps=24))
    assert result.status == "unknown_code" and result.job is None
    assert job_code(code) in result.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not an MP4"),
        (b"\x00\x00\x00\x18ftypisom" + bytes(200), "could not be decoded"),
    ],
)
def test_files_that_are_not_readable_videos_are_refused_and_change_nothing(data, message):
    with pytest.raises(ValidationError, match=message):
        trace.trace_clip(data)
    assert not AuditEvent.objects.filter(action="generation.clip_traced").exists()


def test_a_clip_over_the_size_limit_is_refused(clip, monkeypatch):
    monkeypatch.setattr(trace, "MAX_BYTES", len(clip) - 1)
    with pytest.raises(ValidationError, match="up to"):
        trace.trace_clip(clip)


# --- The command ----------------------------------------------------------------------------------


def test_the_command_prints_job_person_and_time(clip, job, tester, tmp_path, capsys):
    path = tmp_path / "leak.mp4"
    path.write_bytes(crop(clip))

    call_command("trace", str(path))

    out = capsys.readouterr().out
    assert f"Job:       {job.pk}" in out and tester.email in out and "Queued:" in out and job.job_code in out
    assert AuditEvent.objects.filter(action="generation.clip_traced", actor=None, subject=tester).exists()


def test_the_command_says_no_mark_found_and_fails(tmp_path):
    path = tmp_path / "plain.mp4"
    path.write_bytes(encode_mp4(moving_scene(), fps=24))
    with pytest.raises(CommandError, match="No mark found") as raised:
        call_command("trace", str(path))
    assert raised.value.returncode == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("missing.mp4", None, "No such file"), ("notes.mp4", b"just text", "not an MP4")],
)
def test_the_command_refuses_missing_and_unreadable_files(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message) as raised:
        call_command("trace", str(path))
    assert raised.value.returncode == 2
    assert not AuditEvent.objects.filter(action="generation.clip_traced").exists()


# --- The staff page -------------------------------------------------------------------------------

URL = "/leak-alerts/trace/"


def upload(client, data, name="leak.mp4"):
    return client.post(URL, {"clip": SimpleUploadedFile(name, data, content_type="video/mp4")})


def test_an_admin_traces_an_uploaded_clip(client, admin_user, clip, job, tester):
    client.force_login(admin_user)
    assert reverse("trace:upload") == URL
    assert URL in client.get(reverse("leaks:list")).content.decode(), "the leak alerts page links to it"

    response = upload(client, half_size(clip))

    page = response.content.decode()
    assert response.status_code == 200
    assert f"Mark found: job {job.job_code}" in page and tester.email in page and str(job.pk) in page
    assert AuditEvent.objects.get(action="generation.clip_traced").actor == admin_user


def test_the_page_says_no_mark_found(client, admin_user):
    client.force_login(admin_user)
    response = upload(client, encode_mp4(moving_scene(), fps=24))
    assert response.status_code == 200 and "No mark found" in response.content.decode()


def test_the_page_checks_the_upload_by_content(client, admin_user):
    client.force_login(admin_user)
    response = upload(client, b"<html>not a video</html>", name="clip.mp4")
    assert response.status_code == 400 and "not an MP4" in response.content.decode()
    assert not AuditEvent.objects.filter(action="generation.clip_traced").exists()


def test_an_admin_of_another_programme_does_not_see_whose_clip_it_is(client, clip, tester):
    other = with_totp(member("other-admin@example.org", programme=programme_create(name="Beta"), role=Role.ADMIN))
    client.force_login(other)
    page = upload(client, clip).content.decode()
    assert "a programme you do not administer" in page and tester.email not in page


@pytest.mark.parametrize("who", ["tester", "reviewer", "outsider"])
def test_people_who_are_not_programme_admins_are_refused(client, request, who, clip):
    client.force_login(with_totp(request.getfixturevalue(who)))  # past the two-factor step, to the page's own check
    assert client.get(URL).status_code == 404
    assert upload(client, clip).status_code == 404
    assert not AuditEvent.objects.filter(action="generation.clip_traced").exists()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_staff_without_two_factor_are_sent_to_set_it_up(client, programme):
    client.force_login(member("new-admin@example.org", programme=programme, role=Role.ADMIN, is_staff=True))
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
