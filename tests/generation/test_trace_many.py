"""Tracing at the scale of a leak: many files through `manage.py trace` (files and folders), several uploads
on the trace page, and the admin-only API that a trust-and-safety team scripts; each file audited on its own."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from access.models import AuditEvent, Role
from access.policy import current_grant
from access.programmes import programme_create
from access.tokens import token_create
from generation import trace, watermark
from generation.credentials import credentials_sign
from generation.encoding import encode_mp4
from tests.conftest import member, with_totp
from tests.factories import RenderJobFactory
from tests.generation.clips import crop, half_size, moving_scene, reencode
from tests.generation.conftest import SMOKE_RENDER

pytestmark = pytest.mark.django_db

PAGE = "/leak-alerts/trace/"
API = "/api/v1/traces/"


@pytest.fixture
def job(tester, c2pa_signing):
    return RenderJobFactory(owner=tester, grant=current_grant(tester), **SMOKE_RENDER)


@pytest.fixture
def clip(job):
    return credentials_sign(encode_mp4(watermark.mark_clip(moving_scene(), job), fps=24), job)


@pytest.fixture
def plain():
    return encode_mp4(moving_scene(), fps=24)


def traces():
    return AuditEvent.objects.filter(action="generation.clip_traced").order_by("pk")


# --- The command ----------------------------------------------------------------------------------


def test_the_command_traces_a_folder_recursively_one_line_per_file(clip, job, tester, tmp_path, capsys):
    (tmp_path / "drop" / "deeper").mkdir(parents=True)
    (tmp_path / "drop" / "a-leak.mp4").write_bytes(half_size(clip))
    (tmp_path / "drop" / "deeper" / "b-copy.bin").write_bytes(reencode(clip, crf=30))  # judged by content
    (tmp_path / "drop" / "deeper" / "notes.txt").write_text("where we found them")

    call_command("trace", str(tmp_path / "drop"))

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == [
        "file",
        "outcome",
        "job_code",
        "person",
        "programme",
        "queued",
        "c2pa",
        "identified_by",
    ]
    rows = [line.split("\t") for line in lines[1:4]]
    assert [row[0].removeprefix(str(tmp_path / "drop")) for row in rows] == [
        "/a-leak.mp4",
        "/deeper/b-copy.bin",
        "/deeper/notes.txt",
    ]
    for row in rows[:2]:
        assert row[1:6] == ["found", job.job_code, tester.email, job.grant.programme.name, row[5]]
        assert row[5].startswith(f"{job.queued_at:%Y-%m-%d}") and row[6:] == ["absent", "mark"]
    assert rows[2][1:] == ["skipped", "not an MP4, MOV or WebM video"]
    assert "2 of 2 traced to a job." in lines[-1]
    assert traces().count() == 2 and [e.data["filename"] for e in traces()] == [row[0] for row in rows[:2]]


def test_an_honest_copy_is_identified_by_the_mark_and_its_valid_credentials(clip, job, tmp_path, capsys):
    (tmp_path / "copy.mp4").write_bytes(clip)
    call_command("trace", str(tmp_path / "copy.mp4"))
    out = capsys.readouterr().out
    assert f"copy.mp4\tfound\t{job.job_code}\t" in out and out.splitlines()[1].endswith("\tvalid\tmark_and_credentials")
    assert f"Job code {job.job_code}, identified by the mark and credentials" in out, "one file: its details too"


def test_the_command_exits_1_when_any_file_has_no_mark(clip, plain, tmp_path, capsys):
    (tmp_path / "leak.mp4").write_bytes(crop(clip))
    (tmp_path / "other.mp4").write_bytes(plain)

    with pytest.raises(CommandError, match="No mark found in 1; 1 of 2 traced") as raised:
        call_command("trace", str(tmp_path / "leak.mp4"), str(tmp_path / "other.mp4"))

    assert raised.value.returncode == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'other.mp4'}\tno_mark\t-\t-\t-\t-\tabsent\t-" in out
    assert [e.data["result"] for e in traces()] == ["found", "no_mark"]


def test_the_command_exits_2_when_any_file_is_unreadable_and_still_traces_the_rest(clip, tmp_path, capsys):
    (tmp_path / "leak.mp4").write_bytes(clip)
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(200))

    with pytest.raises(CommandError, match="Could not read 2 .*broken.mp4: The video could not be decoded") as raised:
        call_command("trace", str(tmp_path / "leak.mp4"), str(tmp_path / "broken.mp4"), str(tmp_path / "gone.mp4"))

    assert raised.value.returncode == 2
    out = capsys.readouterr().out
    assert f"{tmp_path / 'gone.mp4'}\tunreadable\tNo such file." in out
    assert [e.data["result"] for e in traces()] == ["found"], "only the readable file was traced"


def test_a_folder_without_videos_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(CommandError, match="No video files found") as raised:
        call_command("trace", str(tmp_path))
    assert raised.value.returncode == 2


# --- The page -------------------------------------------------------------------------------------


def test_an_admin_traces_several_clips_at_once(client, admin_user, clip, plain, job, tester):
    client.force_login(admin_user)
    files = [
        SimpleUploadedFile("leak-1.mp4", half_size(clip)),
        SimpleUploadedFile("leak-2.mp4", plain),
        SimpleUploadedFile("leak-3.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(200)),
    ]

    response = client.post(PAGE, {"clip": files})

    page = response.content.decode()
    assert response.status_code == 200 and "3 clips traced" in page
    assert page.count('class="trace-row"') == 3
    assert f"Mark found: job {job.job_code}" in page and tester.email in page
    assert "No mark found." in page and "Could not be read: The video could not be decoded" in page
    assert [e.data["filename"] for e in traces()] == ["leak-1.mp4", "leak-2.mp4"]
    assert all(e.actor == admin_user for e in traces())


def test_a_no_mark_trace_is_recorded_under_the_tracers_programme(client, admin_user, plain, programme):
    client.force_login(admin_user)
    client.post(PAGE, {"clip": [SimpleUploadedFile("plain.mp4", plain)]})
    assert traces().get().programme == programme, "so that the programme's admins see it in their trail"


@pytest.mark.parametrize(
    ("limit", "value", "message"),
    [
        ("MAX_FILES", 1, "At most 1 clips can be traced at once; 2 were sent."),
        ("MAX_TOTAL_BYTES", 1000, "at most 0 MB can be traced at once"),
        ("MAX_BYTES", 1000, "clips up to 0 MB can be traced"),
    ],
)
def test_the_page_refuses_too_many_or_too_large_uploads(client, admin_user, clip, monkeypatch, limit, value, message):
    monkeypatch.setattr(trace, limit, value)
    client.force_login(admin_user)
    response = client.post(PAGE, {"clip": [SimpleUploadedFile("a.mp4", clip), SimpleUploadedFile("b.mp4", clip)]})
    assert response.status_code == 400 and message in response.content.decode()
    assert not traces().exists()


def test_one_non_video_refuses_the_whole_upload(client, admin_user, clip):
    client.force_login(admin_user)
    files = [SimpleUploadedFile("a.mp4", clip), SimpleUploadedFile("b.mp4", b"<html>not a video</html>")]
    response = client.post(PAGE, {"clip": files})
    assert response.status_code == 400 and "b.mp4 is not an MP4, MOV or WebM video." in response.content.decode()
    assert not traces().exists()


# --- The API --------------------------------------------------------------------------------------


def post(client, *files, **headers):
    return client.post(API, {"file": [SimpleUploadedFile(name, data) for name, data in files]}, headers=headers)


def test_an_admin_traces_clips_through_the_api(client, admin_user, clip, plain, job, tester):
    client.force_login(admin_user)

    response = post(client, ("leak.mp4", half_size(clip)), ("plain.mp4", plain))

    assert response.status_code == 200, response.content
    found, no_mark = response.json()["traces"]
    assert found["outcome"] == "found" and found["filename"] == "leak.mp4"
    assert found["job"]["id"] == str(job.pk) and found["job"]["job_code"] == job.job_code
    assert found["job"]["person"] == tester.email and found["job"]["programme"] == job.grant.programme.slug
    assert found["job"]["queued_at"].startswith(f"{job.queued_at:%Y-%m-%dT%H:%M:%S}")
    assert found["credentials"]["status"] == "absent" and found["identified_by"] == "mark"
    assert found["frames_read"] > 0
    assert (no_mark["outcome"], no_mark["job"]) == ("no_mark", None)
    events = list(traces())
    assert [(e.data["filename"], e.data["result"], e.actor) for e in events] == [
        ("leak.mp4", "found", admin_user),
        ("plain.mp4", "no_mark", admin_user),
    ]
    assert events[0].subject == tester and events[1].programme == job.grant.programme


def test_a_token_with_the_trace_scope_scripts_it_and_others_are_refused(client, admin_user, clip, job):
    _, traces_token = token_create(user=admin_user, name="t&s", scopes=["trace"])
    _, read_token = token_create(user=admin_user, name="reader", scopes=["read"])

    response = post(client, ("leak.mp4", clip), Authorization=f"Bearer {traces_token}")
    assert response.status_code == 200 and response.json()["traces"][0]["job"]["job_code"] == job.job_code

    refused = post(client, ("leak.mp4", clip), Authorization=f"Bearer {read_token}")
    assert refused.status_code == 403 and "trace" in refused.json()["detail"]
    assert traces().count() == 1


@pytest.mark.parametrize("who", ["tester", "reviewer", "outsider"])
def test_people_who_are_not_programme_admins_are_refused_by_the_api(client, request, who, clip):
    client.force_login(with_totp(request.getfixturevalue(who)))
    response = post(client, ("leak.mp4", clip))
    assert response.status_code == 403 and response.json()["detail"] == "Only programme admins can trace clips."
    assert not traces().exists()


def test_the_api_does_not_reveal_another_programmes_job(client, clip, tester, job):
    other = with_totp(member("other-admin@example.org", programme=programme_create(name="Beta"), role=Role.ADMIN))
    client.force_login(other)

    answer = post(client, ("leak.mp4", clip)).json()["traces"][0]

    assert answer["outcome"] == "found_elsewhere" and answer["job"] is None
    assert tester.email not in str(answer) and job.job_code not in str(answer)
    event = traces().get()
    assert (event.actor, event.programme) == (other, job.grant.programme), "audited where the job is"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ((), "Send one or more clips"),
        ((("notes.mp4", b"just text"),), "notes.mp4 is not an MP4, MOV or WebM video."),
        ((("empty.mp4", b""),), "empty.mp4 is empty."),
        ((("broken.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(200)),), "broken.mp4: The video could not be decoded"),
    ],
    ids=["no-file", "not-a-video", "empty", "undecodable"],
)
def test_bad_uploads_get_a_clear_400_and_nothing_is_traced(client, admin_user, files, message):
    client.force_login(admin_user)
    response = post(client, *files)
    assert response.status_code == 400 and message in str(response.json()["file"])
    assert not traces().exists()


def test_too_large_uploads_get_413(client, admin_user, clip, monkeypatch):
    client.force_login(admin_user)
    monkeypatch.setattr(trace, "MAX_BYTES", len(clip) - 1)
    response = post(client, ("leak.mp4", clip))
    assert response.status_code == 413 and "clips up to 0 MB" in response.json()["detail"]

    monkeypatch.setattr(trace, "MAX_BYTES", len(clip))
    monkeypatch.setattr(trace, "MAX_TOTAL_BYTES", 2 * len(clip) - 1)
    response = post(client, ("a.mp4", clip), ("b.mp4", clip))
    assert response.status_code == 413 and "add up to" in response.json()["detail"]
    assert not traces().exists()


def test_the_endpoint_is_in_the_schema(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/traces/"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"200", "400", "413"} <= set(operation["responses"])
