"""Content Credentials (C2PA) on every clip: signed with the operator's certificate after encoding, read back
and validated by c2pa's own Reader, refused when edited or cut, absent from a re-encode (which the invisible
mark still traces); the signing key's permissions; the development CA command; the render path."""

import io
import os

import c2pa
import pytest
from django.core.management import CommandError, call_command

from access.policy import current_grant
from competition.films import blind_copy
from generation import render, trace, watermark
from generation.credentials import (
    DIGITAL_SOURCE_TYPE,
    JOB_ASSERTION,
    CredentialsError,
    credentials_check,
    credentials_read,
    credentials_sign,
    dev_ca_create,
    fast_start_check,
    signing_key,
    top_level_boxes,
)
from generation.encoding import encode_mp4, probe_mp4
from generation.models import RenderJob
from tests.factories import RenderJobFactory
from tests.generation.clips import decode, moving_scene, reencode
from tests.generation.conftest import SMOKE_RENDER

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(tester):
    return RenderJobFactory(owner=tester, grant=current_grant(tester), **SMOKE_RENDER)


@pytest.fixture
def plain():
    """A marked clip as the encoder leaves it, before signing."""
    return encode_mp4(moving_scene(), fps=24)


@pytest.fixture
def signed(job, c2pa_signing):
    return credentials_sign(encode_mp4(watermark.mark_clip(moving_scene(), job), fps=24), job)


def mdat_offset(data: bytes) -> int:
    return data.index(b"mdat") + 4


def c2pa_reader(data: bytes, anchors=None):
    config = {"verify": {"remote_manifest_fetch": False}}
    if anchors:
        config["trust"] = {"user_anchors": anchors.read_text()}
    with c2pa.Context.from_dict(config) as context:
        return c2pa.Reader("video/mp4", io.BytesIO(data), None, context)


# --- A signed clip --------------------------------------------------------------------------------


def test_a_signed_clip_validates_with_c2pas_reader(signed, job, c2pa_signing):
    with c2pa_reader(signed, c2pa_signing["anchor"]) as reader:
        assert reader.get_validation_state() == "Trusted"
        results = reader.get_validation_results()["activeManifest"]
        manifest = reader.get_active_manifest()
    assert results["failure"] == []
    assert {"claimSignature.validated", "assertion.bmffHash.match", "signingCredential.trusted"} <= {
        item["code"] for item in results["success"]
    }
    assertions = {assertion["label"]: assertion["data"] for assertion in manifest["assertions"]}
    (created,) = assertions["c2pa.actions.v2"]["actions"]
    assert (created["action"], created["digitalSourceType"]) == ("c2pa.created", DIGITAL_SOURCE_TYPE)
    assert created["softwareAgent"] == {"name": "LTX-Video", "version": "local:ltx-video"}
    assert "c2pa.hash.bmff.v3" in assertions, "the hard binding to the clip's bytes"
    ours = assertions[JOB_ASSERTION]
    assert (ours["job_code"], ours["programme"]) == (job.job_code, job.grant.programme.slug)
    assert ours["model"]["hub_id"] == "Lightricks/LTX-Video" and ours["created"] == job.queued_at.isoformat()
    assert manifest["signature_info"]["common_name"].startswith("Backlot development signer")


def test_credentials_read_says_valid_and_what_the_manifest_names(signed, job):
    credentials = credentials_read(signed)
    assert credentials.status == "valid" and credentials.verified
    assert (credentials.job_code, credentials.programme, credentials.model) == (
        job.job_code,
        job.grant.programme.slug,
        "ltx-video",
    )
    assert "Backlot development signer" in credentials.describe()


def test_without_our_anchor_an_intact_clip_reads_untrusted(signed, settings):
    settings.BACKLOT_C2PA_TRUST_ANCHORS = ""
    with c2pa_reader(signed) as reader:
        assert reader.get_validation_state() == "Valid", "signature and binding check out"
        failures = {item["code"] for item in reader.get_validation_results()["activeManifest"]["failure"]}
    assert failures == {"signingCredential.untrusted"}
    credentials = credentials_read(signed)
    assert (
        credentials.status == "untrusted" and credentials.verified and "not a trusted signer" in credentials.describe()
    )


def test_the_signed_clip_stays_a_fast_start_mp4_that_decodes_to_the_same_pictures(signed, job):
    boxes = top_level_boxes(signed)
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat") and "moof" not in boxes
    assert "uuid" in boxes[: boxes.index("moov")], "the manifest box sits before the index"
    unsigned = encode_mp4(watermark.mark_clip(moving_scene(), job), fps=24)
    assert probe_mp4(signed) == probe_mp4(unsigned)
    assert (decode(signed) == decode(unsigned)).all()


# --- Changed copies -------------------------------------------------------------------------------


def test_an_edited_copy_is_tampered(signed):
    edited = bytearray(signed)
    edited[mdat_offset(signed) + 5000] ^= 0xFF
    with c2pa_reader(bytes(edited)) as reader:
        assert reader.get_validation_state() == "Invalid"
    credentials = credentials_read(bytes(edited))
    assert credentials.status == "tampered" and not credentials.verified
    assert "assertion.bmffHash.mismatch" in credentials.failures and "changed" in credentials.describe()


@pytest.mark.parametrize("share", [1 / 3, 2 / 3, 0.999])
def test_a_truncated_copy_is_tampered(signed, share):
    credentials = credentials_read(signed[: int(len(signed) * share)])
    assert credentials.status == "tampered", credentials
    assert "assertion.bmffHash.mismatch" in credentials.failures


def test_an_edited_manifest_is_tampered(signed, job):
    forged = signed.replace(job.job_code.encode(), b"0000000", 1)
    assert forged != signed
    credentials = credentials_read(forged)
    assert credentials.status == "tampered" and credentials.failures


def test_a_cut_manifest_box_is_tampered_not_absent(signed):
    start = signed.index(b"uuid") - 4
    cut = signed[: start + 200] + signed[start + 400 :]
    assert credentials_read(cut).status == "tampered"


def test_a_reencoded_copy_has_no_manifest_but_traces_by_its_mark(signed, job, admin_user):
    copy = reencode(signed, crf=28)
    with c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False}}) as context:
        assert c2pa.Reader.try_create("video/mp4", io.BytesIO(copy), None, context) is None
    assert credentials_read(copy).status == "absent"
    result = trace.trace_clip(copy, actor=admin_user)
    assert (result.job, result.identified_by, result.credentials.status) == (job, "mark", "absent")


def test_an_honest_copy_is_identified_by_both(signed, job, admin_user):
    result = trace.trace_clip(signed, actor=admin_user)
    assert (result.job, result.identified_by, result.credentials.status) == (job, "mark and credentials", "valid")


def test_valid_credentials_name_the_job_when_the_mark_is_not_there(plain, job, admin_user, c2pa_signing):
    result = trace.trace_clip(credentials_sign(plain, job), actor=admin_user)
    assert (result.status, result.job, result.identified_by) == ("found", job, "credentials")


def test_untrusted_credentials_name_no_job(plain, job, admin_user, c2pa_signing, settings, tmp_path):
    stranger = dev_ca_create(tmp_path / "stranger")
    settings.BACKLOT_C2PA_CERT_CHAIN, settings.BACKLOT_C2PA_KEY = str(stranger["chain"]), str(stranger["key"])
    result = trace.trace_clip(credentials_sign(plain, job), actor=admin_user)
    assert result.credentials.status == "untrusted" and result.credentials.job_code == job.job_code
    assert (result.status, result.job, result.identified_by) == ("no_mark", None, "")


def webm(count: int = 5) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for frame in moving_scene(count, 64, 64):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [None, webm(), b"\x00\x00\x00\x18ftypisom" + bytes(200), b"\x89PNG\r\n\x1a\n" + bytes(100)],
    ids=["unsigned-mp4", "webm", "broken-mp4", "png"],
)
def test_files_without_a_manifest_read_absent_not_tampered(plain, data):
    assert credentials_read(plain if data is None else data).status == "absent"


def test_the_blind_copy_of_a_film_drops_the_manifest(signed):
    """A manifest names the job and programme: reviewers must not get it with an entrant's film."""
    blind = blind_copy(signed)
    assert credentials_read(blind).status == "absent" and b"c2pa" not in blind


# --- The trace command and page -------------------------------------------------------------------


def test_the_trace_command_prints_the_c2pa_status_and_what_identified_the_job(signed, job, tmp_path, capsys):
    path = tmp_path / "leak.mp4"
    path.write_bytes(signed)
    call_command("trace", str(path))
    out = capsys.readouterr().out
    assert "C2PA:      valid: Content Credentials valid" in out
    assert f"Job code {job.job_code}, identified by the mark and credentials" in out


def test_the_trace_page_shows_the_c2pa_status(client, admin_user, signed):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(admin_user)
    edited = bytearray(signed)
    edited[mdat_offset(signed) + 100] ^= 1
    response = client.post("/leak-alerts/trace/", {"clip": SimpleUploadedFile("a.mp4", bytes(edited))})
    page = response.content.decode()
    assert "Content Credentials (C2PA): <strong>tampered</strong>" in page
    assert "Identified by the mark." in page


# --- Configuration and the signing key ------------------------------------------------------------


def test_without_a_certificate_clips_go_unsigned_and_the_check_warns(plain, job, settings):
    settings.BACKLOT_C2PA_CERT_CHAIN = settings.BACKLOT_C2PA_KEY = ""
    assert signing_key() is None and credentials_sign(plain, job) == plain
    (warning,) = credentials_check()
    assert warning.id == "generation.W001" and "no Content Credentials" in warning.msg


def test_a_configured_certificate_passes_the_check(c2pa_signing):
    assert credentials_check() == []


def test_a_key_others_can_read_is_refused(plain, job, c2pa_signing, settings, tmp_path):
    loose = tmp_path / "loose.key"
    loose.write_bytes(c2pa_signing["key"].read_bytes())
    loose.chmod(0o640)
    settings.BACKLOT_C2PA_KEY = str(loose)
    with pytest.raises(CredentialsError, match=r"readable by others \(mode 640\); run chmod 600"):
        credentials_sign(plain, job)
    (error,) = credentials_check()
    assert error.id == "generation.E001" and "readable by others" in error.msg
    loose.chmod(0o600)
    assert credentials_read(credentials_sign(plain, job)).status == "valid"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BACKLOT_C2PA_KEY": ""}, "Set both"),
        ({"BACKLOT_C2PA_KEY": "/nonexistent/signer.key"}, "Cannot read /nonexistent/signer.key"),
        ({"BACKLOT_C2PA_CERT_CHAIN": "KEY"}, "holds no PEM certificate"),
        ({"BACKLOT_C2PA_TRUST_ANCHORS": "/nonexistent/ca.pem"}, "Cannot read the C2PA trust anchors"),
    ],
)
def test_bad_configuration_is_a_clear_check_error(c2pa_signing, settings, change, message):
    for name, value in change.items():
        setattr(settings, name, str(c2pa_signing["key"]) if value == "KEY" else value)
    (error,) = credentials_check()
    assert error.id == "generation.E001" and message in error.msg


def test_a_key_that_does_not_match_the_certificate_is_refused(c2pa_signing, settings, tmp_path):
    other = dev_ca_create(tmp_path / "other")
    settings.BACKLOT_C2PA_KEY = str(other["key"])
    with pytest.raises(CredentialsError, match="does not belong to the first certificate"):
        signing_key()


def test_a_clip_that_is_not_fast_start_is_refused(plain):
    boxes = top_level_boxes(plain)
    assert boxes.index("moov") < boxes.index("mdat")
    moov_at = plain.index(b"moov") - 4
    moov_size = int.from_bytes(plain[moov_at : moov_at + 4])
    moved = plain[:moov_at] + plain[moov_at + moov_size :] + plain[moov_at : moov_at + moov_size]
    with pytest.raises(CredentialsError, match="not a fast-start MP4"):
        fast_start_check(moved)
    with pytest.raises(ValueError, match="runs past the end"):
        top_level_boxes(plain[:-10])


# --- The render path ------------------------------------------------------------------------------


def test_job_render_stores_a_signed_fast_start_clip_that_decodes(smoke_model, job, c2pa_signing):
    render.job_render(job_id=job.pk, worker="w")

    job.refresh_from_db()
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    with job.output.open("rb") as stored:
        data = stored.read()
    assert job.output_bytes == len(data)
    fast_start_check(data)
    assert probe_mp4(data)["frames"] == SMOKE_RENDER["num_frames"]
    assert watermark.read_invisible(decode(data, "gray")) == job.mark_code
    credentials = credentials_read(data)
    assert (credentials.status, credentials.job_code) == ("valid", job.job_code)


def test_a_render_whose_clip_cannot_be_signed_fails_refunded_and_stores_nothing(
    smoke_model, job, c2pa_signing, settings, tmp_path
):
    loose = tmp_path / "loose.key"
    loose.write_bytes(c2pa_signing["key"].read_bytes())
    loose.chmod(0o644)
    settings.BACKLOT_C2PA_KEY = str(loose)

    render.job_render(job_id=job.pk, worker="w")

    job.refresh_from_db()
    assert job.state == RenderJob.State.FAILED and not job.output
    assert job.error.startswith("The clip could not be signed: The C2PA signing key") and "refunded" in job.error


# --- The development CA command -------------------------------------------------------------------


def test_the_dev_ca_command_makes_a_chain_the_signer_and_reader_accept(tmp_path, settings, plain, job, capsys):
    folder = tmp_path / "c2pa"
    call_command("credentials_dev_ca", "--dir", str(folder))
    out = capsys.readouterr().out
    assert f"BACKLOT_C2PA_KEY={folder / 'dev-signer.key'}" in out
    assert oct(os.stat(folder / "dev-signer.key").st_mode & 0o777) == "0o600"
    settings.BACKLOT_C2PA_CERT_CHAIN = str(folder / "dev-chain.pem")
    settings.BACKLOT_C2PA_KEY = str(folder / "dev-signer.key")
    settings.BACKLOT_C2PA_TRUST_ANCHORS = str(folder / "dev-ca.pem")
    assert credentials_read(credentials_sign(plain, job)).status == "valid"


def test_the_dev_ca_command_keeps_existing_files_unless_forced(tmp_path, capsys):
    folder = tmp_path / "c2pa"
    call_command("credentials_dev_ca", "--dir", str(folder))
    before = {path.name: path.read_bytes() for path in folder.iterdir()}

    with pytest.raises(CommandError, match="already exist; pass --force"):
        call_command("credentials_dev_ca", "--dir", str(folder))
    call_command("credentials_dev_ca", "--dir", str(folder), "--if-missing")
    assert "present" in capsys.readouterr().out
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before

    (folder / "dev-ca.pem").unlink()
    with pytest.raises(CommandError, match="dev-chain.pem.*already exist"):
        call_command("credentials_dev_ca", "--dir", str(folder), "--if-missing")

    call_command("credentials_dev_ca", "--dir", str(folder), "--force")
    after = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert (
        set(after) == {"dev-ca.pem", "dev-chain.pem", "dev-signer.key"}
        and after["dev-chain.pem"] != before["dev-chain.pem"]
    )


def test_the_dev_ca_command_refuses_a_folder_it_cannot_make(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CommandError, match="Cannot create"):
        call_command("credentials_dev_ca", "--dir", str(blocker / "c2pa"))
    assert blocker.read_text() == "not a folder"


def test_the_dev_ca_command_refuses_bad_days(tmp_path):
    with pytest.raises(CommandError, match="--days must be from 1 to 3650"):
        call_command("credentials_dev_ca", "--dir", str(tmp_path / "c2pa"), "--days", "0")
    assert not (tmp_path / "c2pa").exists()


def test_an_intact_clip_whose_certificate_has_since_expired_reads_expired_not_tampered(job, settings, tmp_path):
    import time

    from generation import credentials

    paths = dev_ca_create(tmp_path, days=2 / 86400)  # valid for two seconds
    settings.BACKLOT_C2PA_CERT_CHAIN, settings.BACKLOT_C2PA_KEY = str(paths["chain"]), str(paths["key"])
    settings.BACKLOT_C2PA_TRUST_ANCHORS = str(paths["anchor"])
    signed = credentials_sign(encode_mp4(moving_scene(), fps=24), job)
    assert credentials_read(signed).status == "valid"
    time.sleep(3)

    read = credentials_read(signed)

    assert read.status == "expired" and read.verified, read
    assert "has expired" in read.describe()
    assert credentials.credentials_read(signed[: len(signed) // 2]).status == "tampered"
