"""Creative modes through the API and the in-process render path with the real smoke models: uploads
judged by their bytes, inputs checked before anything is reserved, each mode rendered to a playable clip."""

import hashlib
import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from access.policy import current_grant
from generation import quota, render, runner
from generation.encoding import decode_mp4
from generation.models import InputImage, RenderJob
from generation.registry import MODELS
from tests.factories import image_bytes
from tests.generation.job_requests import API_BODY, PAGE_FORM, job_rendered

pytestmark = pytest.mark.django_db

JOBS, UPLOADS = "/api/v1/jobs/", "/api/v1/uploads/"
SMALL = {"num_frames": 17, "width": 192, "height": 128, "num_steps": 2, "guidance_scale": 3.0, "seed": 3}


def _upload(api, data: bytes, name="still.png"):
    file = io.BytesIO(data)
    file.name = name
    return api.post(UPLOADS, {"file": file}, format="multipart")


def _nothing_charged(user):
    assert not RenderJob.objects.filter(owner=user).exists()
    usage = quota.grant_usage(current_grant(user))
    assert usage["seconds_total"] == 0 and usage["seconds_reserved"] == 0


def _finished_clip(owner, **settings) -> RenderJob:
    """A real finished smoke clip of ``owner``'s, rendered in-process."""
    from generation.submission import jobs_submit

    (job,) = jobs_submit(owner=owner, prompt="a red bird over the sea", model_key="ltx-video", **{**SMALL, **settings})
    render.job_render(job_id=job.pk, worker="test-worker")
    job.refresh_from_db()
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    return job


# --- uploads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP"])
def test_an_image_upload_is_judged_by_its_bytes_and_kept_privately(api, tester, kind):
    response = _upload(api, image_bytes(kind=kind), name="whatever.bin")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["format"], body["width"], body["height"]) == (kind, 96, 64)
    image = InputImage.objects.get(pk=body["id"])
    assert image.owner == tester
    assert image.file.name.startswith(f"inputs/{tester.pk}/") and "whatever" not in image.file.name
    assert "url" not in body and "file" not in body


def test_a_png_that_is_really_text_is_refused(api, tester):
    response = _upload(api, b"just some text pretending to be an image\n" * 10, name="fake.png")

    assert response.status_code == 400
    assert "not a readable PNG, JPEG or WebP" in response.json()["file"][0]
    assert not InputImage.objects.exists()
    _nothing_charged(tester)


def test_a_20000_pixel_image_is_refused_without_decoding_it(api, tester):
    # A 20,000 x 20 PNG header over few bytes: refused from its header.
    response = _upload(api, image_bytes(width=20_000, height=20))

    assert response.status_code == 400
    assert "4096 pixels a side; this one is 20000x20" in response.json()["file"][0]
    assert not InputImage.objects.exists()
    _nothing_charged(tester)


def test_other_image_types_are_refused(api):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="GIF")

    response = _upload(api, buffer.getvalue(), name="x.png")

    assert response.status_code == 400 and "this file is GIF" in response.json()["file"][0]


def _photo_with_gps(kind="JPEG") -> bytes:
    """A photo as a phone leaves it: EXIF with the camera, the time and a GPS position, and a colour profile."""
    from PIL import ExifTags, ImageCms

    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.DateTime] = "2026:11:02 10:11:12"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (52.0, 22.0, 10.5)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (4.0, 53.0, 1.25)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    image = Image.new("RGB", (96, 64), (200, 40, 40))
    image.save(buffer, format=kind, exif=exif.tobytes(), icc_profile=icc, quality=95)
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as check:  # the photo really carries them
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == (52.0, 22.0, 10.5)
    return data


def _no_uploader_metadata(data: bytes):
    from PIL import ExifTags

    with Image.open(io.BytesIO(data)) as stored:
        assert not stored.getexif() and not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(stored.info), stored.info
        pixel = stored.convert("RGB").getpixel((48, 32))
    assert all(abs(a - b) <= 3 for a, b in zip(pixel, (200, 40, 40), strict=True)), pixel
    assert b"Exif" not in data and b"PhoneCo" not in data and b"2026:11:02" not in data


@pytest.mark.parametrize("kind", ["JPEG", "WEBP", "PNG"])
def test_an_uploaded_photo_is_kept_without_its_gps_position_or_other_metadata(api, tester, kind):
    photo = _photo_with_gps(kind)

    response = _upload(api, photo, name="holiday.jpg")

    assert response.status_code == 201, response.json()
    image = InputImage.objects.get(pk=response.json()["id"])
    with image.file.open("rb") as handle:
        stored = handle.read()
    _no_uploader_metadata(stored)
    assert (image.format, image.width, image.height, image.bytes) == (kind, 96, 64, len(stored))
    assert image.sha256 == hashlib.sha256(stored).hexdigest()


def test_a_photo_uploaded_on_the_generate_page_is_kept_without_its_metadata(tester_client):
    photo = SimpleUploadedFile("holiday.jpg", _photo_with_gps(), content_type="image/jpeg")
    form = {**PAGE_FORM, "mode": "image_to_video", "image": photo}

    response = tester_client.post(reverse("generation:job_create"), form)

    assert response.status_code == 302
    job = RenderJob.objects.get()
    with job.image.file.open("rb") as handle:
        _no_uploader_metadata(handle.read())


def test_a_photo_s_orientation_is_applied_before_its_exif_is_dropped(api):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (10, 200, 10)).save(buffer, format="JPEG", exif=exif.tobytes())

    response = _upload(api, buffer.getvalue())

    assert response.status_code == 201, response.json()
    assert (response.json()["width"], response.json()["height"]) == (64, 96)


def test_uploading_needs_a_grant(outsider):
    client = APIClient()
    client.force_authenticate(outsider)

    assert _upload(client, image_bytes()).status_code == 403
    assert not InputImage.objects.exists()


# --- submission rules ----------------------------------------------------------------------------------


def test_the_models_list_says_each_model_s_modes(api):
    models = {entry["key"]: entry for entry in api.get("/api/v1/models/").json()}

    ltx = {mode["key"]: mode for mode in models["ltx-video"]["modes"]}
    assert set(ltx) == {"text_to_video", "image_to_video", "keyframes", "extend", "upscale"}
    assert ltx["keyframes"]["pipeline"] == "LTXConditionPipeline"
    assert ltx["keyframes"]["inputs"] == ["image", "last_image"]
    assert [mode["key"] for mode in models["cogvideox-2b"]["modes"]] == ["text_to_video", "restyle"]
    cog5 = {mode["key"]: mode for mode in models["cogvideox-5b"]["modes"]}
    assert set(cog5) == {"text_to_video", "restyle", "image_to_video"}
    assert cog5["image_to_video"]["pipeline"] == "CogVideoXImageToVideoPipeline"


def test_every_declared_mode_pipeline_exists_in_diffusers():
    import inspect

    from generation.runner import pipeline_class_get

    for spec in MODELS.values():
        for mode in spec.modes:
            parameters = inspect.signature(pipeline_class_get(mode.pipeline_class).__call__).parameters
            assert {"generator", "output_type"} <= set(parameters), mode


def test_image_to_video_is_queued_with_its_image(api, tester):
    image_id = _upload(api, image_bytes()).json()["id"]

    response = api.post(JOBS, {**API_BODY, "mode": "image_to_video", "image": image_id}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["mode"], body["image"], body["source"]) == ("image_to_video", image_id, None)
    assert RenderJob.objects.get().charged_seconds > 0


def test_a_mode_the_model_lacks_is_refused_and_charges_nothing(api, tester):
    image_id = _upload(api, image_bytes()).json()["id"]
    body = {**API_BODY, "model_key": "cogvideox-2b", "width": 720, "height": 480, "num_frames": 49}

    response = api.post(JOBS, {**body, "mode": "image_to_video", "image": image_id}, format="json")

    assert response.status_code == 400
    assert "CogVideoX 2B does not offer 'image_to_video'" in response.json()["mode"][0]
    _nothing_charged(tester)


def test_someone_else_s_upload_is_not_found(api, tester, tester2):
    other = APIClient()
    other.force_authenticate(tester2)
    image_id = _upload(other, image_bytes()).json()["id"]

    response = api.post(JOBS, {**API_BODY, "mode": "image_to_video", "image": image_id}, format="json")

    assert response.status_code == 400 and response.json()["image"] == ["No such uploaded image."]
    _nothing_charged(tester)


def test_a_mode_without_its_inputs_or_with_others_is_refused(api, tester):
    image_id = _upload(api, image_bytes()).json()["id"]

    missing = api.post(JOBS, {**API_BODY, "mode": "keyframes", "image": image_id}, format="json")
    extra = api.post(JOBS, {**API_BODY, "image": image_id}, format="json")

    assert missing.status_code == 400 and missing.json()["last_image"] == ["This mode needs last image."]
    assert extra.status_code == 400 and extra.json()["image"] == ["The text_to_video mode takes no image."]
    _nothing_charged(tester)


def test_a_clip_that_is_not_yours_is_refused_and_charges_nothing(smoke_model, api, tester, tester2):
    theirs = _finished_clip(tester2)

    response = api.post(JOBS, {**API_BODY, **SMALL, "mode": "extend", "source": str(theirs.pk)}, format="json")

    assert response.status_code == 400
    assert "No such clip among yours" in response.json()["source"][0]
    _nothing_charged(tester)


def test_an_unfinished_clip_cannot_be_extended(api, tester):
    queued = api.post(JOBS, {**API_BODY, **SMALL}, format="json").json()
    before = RenderJob.objects.count(), quota.grant_usage(current_grant(tester))

    response = api.post(JOBS, {**API_BODY, **SMALL, "mode": "extend", "source": queued["id"]}, format="json")

    assert response.status_code == 400 and "not finished" in response.json()["source"][0]
    assert (RenderJob.objects.count(), quota.grant_usage(current_grant(tester))) == before


def _mode_body(api, owner, mode: str) -> dict:
    """A valid API body for ``mode``, with real inputs of ``owner``'s (uploads, a finished source clip)."""
    if mode == "restyle":
        from generation.submission import jobs_submit

        cog = {**SMALL, "model_key": "cogvideox-2b", "num_frames": 9, "width": 128, "height": 128}
        (source,) = jobs_submit(owner=owner, prompt="a storm at sea", **cog)
        job_rendered(source.pk)
        runner._pipelines.pop("cogvideox-2b", None)  # keep the worker's memory for the other tests
        return {**API_BODY, **cog, "mode": mode, "source": str(source.pk), "strength": 0.5}
    body = {**API_BODY, **SMALL, "mode": mode}
    if mode in ("image_to_video", "keyframes"):
        body["image"] = _upload(api, image_bytes()).json()["id"]
    if mode == "keyframes":
        body["last_image"] = _upload(api, image_bytes(colour=(0, 0, 200))).json()["id"]
    if mode in ("extend", "upscale"):
        body["source"] = str(_finished_clip(owner).pk)
    if mode == "extend":
        body["num_frames"] = 25
    if mode == "upscale":
        body.update(width=384, height=256)
    return body


@pytest.mark.parametrize("mode", ["image_to_video", "keyframes", "extend", "upscale", "restyle"])
def test_the_prompt_policy_applies_to_every_mode(smoke_model, cogvideox_smoke, api, tester, programme, mode):
    from generation.models import PromptRule

    body = _mode_body(api, tester, mode)
    assert api.post(JOBS, body, format="json").status_code == 201, "the body is valid but for its prompt"
    before = RenderJob.objects.count(), quota.grant_usage(current_grant(tester))
    PromptRule.objects.create(programme=programme, text="forbidden", reason="Not in this programme.")

    response = api.post(JOBS, {**body, "prompt": "a forbidden cat"}, format="json")

    assert response.status_code == 400 and "Not in this programme." in str(response.json())
    assert (RenderJob.objects.count(), quota.grant_usage(current_grant(tester))) == before


def test_the_generate_page_refuses_a_20000_pixel_image_and_charges_nothing(tester_client, tester):
    upload = SimpleUploadedFile("huge.png", image_bytes(width=20_000, height=20), content_type="image/png")

    response = tester_client.post(reverse("generation:job_create"), _page_form(mode="image_to_video", image=upload))

    assert response.status_code == 400
    assert "4096 pixels a side; this one is 20000x20" in response.content.decode()
    assert not InputImage.objects.exists()
    _nothing_charged(tester)


def test_the_generate_page_refuses_another_person_s_clip_as_a_source_and_charges_nothing(
    smoke_model, tester_client, tester, tester2
):
    theirs = _finished_clip(tester2)
    form = _page_form(mode="extend", num_frames="25", source=str(theirs.pk))

    response = tester_client.post(reverse("generation:job_create"), form)

    assert response.status_code == 400 and "No such clip among yours" in response.content.decode()
    _nothing_charged(tester)


# --- renders with the smoke models ----------------------------------------------------------------------


def test_image_to_video_renders_a_clip_that_starts_from_the_image(smoke_model, api, tester):
    image_id = _upload(api, image_bytes(colour=(230, 30, 30))).json()["id"]
    job_id = api.post(JOBS, {**API_BODY, **SMALL, "mode": "image_to_video", "image": image_id}, format="json").json()[
        "id"
    ]

    job, frames = job_rendered(job_id)

    assert frames.shape == (17, 128, 192, 3)
    assert job.mark_code and job.charged_seconds == job.gpu_seconds


def test_keyframes_render_between_two_images(smoke_model, api, tester):
    first = _upload(api, image_bytes(colour=(230, 30, 30))).json()["id"]
    last = _upload(api, image_bytes(colour=(30, 30, 230), kind="JPEG")).json()["id"]
    job_id = api.post(
        JOBS, {**API_BODY, **SMALL, "mode": "keyframes", "image": first, "last_image": last}, format="json"
    ).json()["id"]

    _, frames = job_rendered(job_id)

    assert frames.shape == (17, 128, 192, 3)


def test_extend_and_upscale_link_to_their_source_both_ways(smoke_model, api, tester):
    source = _finished_clip(tester)

    extended = api.post(
        JOBS, {**API_BODY, **SMALL, "num_frames": 25, "mode": "extend", "source": str(source.pk)}, format="json"
    )
    upscaled = api.post(
        JOBS,
        {**API_BODY, **SMALL, "width": 384, "height": 256, "mode": "upscale", "source": str(source.pk)},
        format="json",
    )
    assert extended.status_code == 201, extended.json()
    assert upscaled.status_code == 201, upscaled.json()

    _, extended_frames = job_rendered(extended.json()["id"])
    _, upscaled_frames = job_rendered(upscaled.json()["id"])

    assert extended_frames.shape == (17 + 25 - 9, 128, 192, 3)  # the source, then the 16 new frames
    assert upscaled_frames.shape == (17, 256, 384, 3)
    lineage = api.get(f"{JOBS}{source.pk}/").json()["derived"]
    assert set(lineage) == {extended.json()["id"], upscaled.json()["id"]}
    assert api.get(f"{JOBS}{extended.json()['id']}/").json()["source"] == str(source.pk)


def test_an_extended_clip_plays_its_source_then_the_continuation_marked_and_signed_as_one(
    smoke_model, c2pa_signing, api, tester
):
    from django.conf import settings

    from generation import watermark
    from generation.credentials import credentials_read
    from generation.encoding import encode_mp4
    from generation.trace import trace_clip

    size = {"width": 256, "height": 256}  # large enough for the invisible mark to be read back
    source = _finished_clip(tester, **size)
    with source.output.open("rb") as handle:
        source_video = handle.read()
    source_frames = decode_mp4(source_video)
    body = {**API_BODY, **SMALL, **size, "num_frames": 25, "mode": "extend", "source": str(source.pk)}

    extended, frames = job_rendered(api.post(JOBS, body, format="json").json()["id"])

    # 17 source frames, then the continuation less the 9 frames it repeats of the source's end.
    assert len(frames) == 17 + 25 - 9
    # The source's frames come back, in order, within the codec's tolerance: near what encoding them once more
    # gives, less the new clip's invisible mark laid over them (version 3 on these small frames, strongest on the
    # smoke model's grain), and far from what a join one frame off would give.
    reencoded = decode_mp4(encode_mp4(source_frames, fps=24, crf=settings.BACKLOT_VIDEO_CRF))
    codec, joined = watermark.psnr(source_frames, reencoded), watermark.psnr(source_frames, frames[:17])
    one_off = watermark.psnr(source_frames[1:], frames[:16])
    assert joined > 27 and joined > codec - 5 and joined > one_off + 6, (joined, codec, one_off)
    # One clip: its mark and its signature name the extension, where the source's own name the source.
    with extended.output.open("rb") as handle:
        video = handle.read()
    assert trace_clip(source_video).job == source
    traced = trace_clip(video)
    assert traced.job == extended and traced.identified_by == "mark and credentials"
    assert credentials_read(video).job_code == extended.job_code
    assert api.get(f"{JOBS}{extended.pk}/").json()["source"] == str(source.pk)
    assert api.get(f"{JOBS}{source.pk}/").json()["derived"] == [str(extended.pk)]


def test_an_extended_clip_is_upscaled_or_extended_again_at_its_full_length(smoke_model, api, tester, tester_client):
    source = _finished_clip(tester)
    body = {**API_BODY, **SMALL, "num_frames": 25, "mode": "extend", "source": str(source.pk)}
    extended, _ = job_rendered(api.post(JOBS, body, format="json").json()["id"])
    upscale = {**API_BODY, **SMALL, "width": 384, "height": 256, "mode": "upscale", "source": str(extended.pk)}

    refused = api.post(JOBS, upscale, format="json")  # 17 frames: what the extension's job rendered, not its clip
    again = api.post(JOBS, {**body, "source": str(extended.pk)}, format="json")

    assert refused.status_code == 400 and refused.json()["num_frames"] == ["This mode keeps the source's 33 frames."]
    twice, frames = job_rendered(again.json()["id"])
    assert len(frames) == 33 + 25 - 9 and twice.clip_frames == 49
    assert "25 frames rendered, 49 with its source" in tester_client.get(twice.get_absolute_url()).content.decode()


def test_extend_join_refuses_a_continuation_of_another_size_or_too_short():
    from generation.extend import extend_join

    source = np.zeros((17, 64, 96, 3), np.uint8)
    with pytest.raises(ValueError, match="96x64"):
        extend_join(source, np.zeros((25, 32, 96, 3), np.uint8))
    with pytest.raises(ValueError, match="more than the 9 frames"):
        extend_join(source, np.zeros((9, 64, 96, 3), np.uint8))
    joined = extend_join(source, np.full((25, 64, 96, 3), 7, np.uint8))
    assert joined.shape == (33, 64, 96, 3) and joined[16].max() == 0 and joined[17].min() == 7


def test_upscale_needs_twice_the_source_s_size(smoke_model, api, tester):
    source = _finished_clip(tester)
    before = RenderJob.objects.count(), quota.grant_usage(current_grant(tester))

    response = api.post(JOBS, {**API_BODY, **SMALL, "mode": "upscale", "source": str(source.pk)}, format="json")

    assert response.status_code == 400 and "384x256" in response.json()["width"][0]
    assert (RenderJob.objects.count(), quota.grant_usage(current_grant(tester))) == before


@pytest.fixture(scope="module")
def cogvideox_smoke(django_db_blocker):
    with django_db_blocker.unblock():
        call_command("smoke_build", "cogvideox-2b", "--if-missing", verbosity=0)


def test_restyle_renders_a_cogvideox_clip_again_with_a_strength(cogvideox_smoke, api, tester):
    from generation.submission import jobs_submit

    settings = {**SMALL, "num_frames": 9, "width": 128, "height": 128, "num_steps": 4}
    (source,) = jobs_submit(owner=tester, prompt="a storm at sea", model_key="cogvideox-2b", **settings)
    source_job, _ = job_rendered(source.pk)

    response = api.post(
        JOBS,
        {
            **API_BODY,
            **settings,
            "model_key": "cogvideox-2b",
            "mode": "restyle",
            "source": str(source.pk),
            "strength": 0.5,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    job, frames = job_rendered(response.json()["id"])

    assert frames.shape == (9, 128, 128, 3)
    assert job.strength == 0.5 and job.source_id == source_job.pk
    runner._pipelines.pop("cogvideox-2b", None)  # keep the worker's memory for the other tests


@pytest.fixture(scope="module")
def cogvideox_5b_smoke(django_db_blocker):
    with django_db_blocker.unblock():
        call_command("smoke_build", "cogvideox-5b", "--if-missing", verbosity=0)


def test_cogvideox_5b_renders_image_to_video_with_its_i2v_transformer(cogvideox_5b_smoke, api, tester):
    image_id = _upload(api, image_bytes(320, 200)).json()["id"]
    body = {**API_BODY, **SMALL, "model_key": "cogvideox-5b", "num_frames": 9, "width": 720, "height": 480}

    response = api.post(JOBS, {**body, "mode": "image_to_video", "image": image_id}, format="json")

    assert response.status_code == 201, response.json()
    job, frames = job_rendered(response.json()["id"])
    assert frames.shape == (9, 480, 720, 3) and (job.mode, str(job.image_id)) == ("image_to_video", image_id)
    pipeline = runner._mode_pipelines[("cogvideox-5b", "image_to_video")][1]
    resident = runner._pipelines["cogvideox-5b"]
    # The I2V checkpoint's own transformer (image latents as extra channels); the rest shared, not loaded again.
    assert pipeline.transformer.config.in_channels == 2 * resident.transformer.config.in_channels
    assert pipeline.vae is resident.vae and pipeline.text_encoder is resident.text_encoder
    runner._pipelines.pop("cogvideox-5b", None)  # keep the worker's memory for the other tests


def test_the_generate_page_queues_cogvideox_5b_image_to_video_with_its_upload(tester_client, tester):
    upload = SimpleUploadedFile("still.png", image_bytes(320, 200), content_type="image/png")
    form = _page_form(model_key="cogvideox-5b", num_frames="9", width="720", height="480", mode="image_to_video")

    response = tester_client.post(reverse("generation:job_create"), {**form, "image": upload})

    job = RenderJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.model_key, job.mode, job.image.owner, job.image.width) == (
        "cogvideox-5b",
        "image_to_video",
        tester,
        320,
    )
    assert job.charged_seconds > 0


def test_cogvideox_5b_image_to_video_at_another_size_is_refused_and_charges_nothing(api, tester):
    image_id = _upload(api, image_bytes()).json()["id"]
    body = {**API_BODY, **SMALL, "model_key": "cogvideox-5b", "num_frames": 9, "width": 256, "height": 192}

    response = api.post(JOBS, {**body, "mode": "image_to_video", "image": image_id}, format="json")

    assert response.status_code == 400
    assert response.json()["width"] == ["CogVideoX 5B's image to video renders 720x480 only."]
    _nothing_charged(tester)


# --- the generate page and the clip page -------------------------------------------------------------


def _page_form(**changes):
    from tests.generation.job_requests import PAGE_FORM

    return {**PAGE_FORM, "num_frames": "17", "width": "192", "height": "128", "mode": "text_to_video", **changes}


def test_the_generate_page_offers_the_model_s_modes(tester_client):
    page = tester_client.get(reverse("generation:job_create")).content.decode()

    assert 'enctype="multipart/form-data"' in page
    for mode in ("image_to_video", "keyframes", "extend", "upscale"):
        assert f'value="{mode}"' in page
    assert 'value="restyle"' not in page  # LTX has no restyle


def test_the_generate_page_renders_from_an_uploaded_image(tester_client, tester):
    upload = SimpleUploadedFile("still.png", image_bytes(), content_type="image/png")

    response = tester_client.post(reverse("generation:job_create"), _page_form(mode="image_to_video", image=upload))

    job = RenderJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.mode == "image_to_video" and job.image.owner == tester and job.image.width == 96


def test_the_generate_page_refuses_a_text_file_named_png_and_charges_nothing(tester_client, tester):
    upload = SimpleUploadedFile("still.png", b"not an image at all", content_type="image/png")

    response = tester_client.post(reverse("generation:job_create"), _page_form(mode="image_to_video", image=upload))

    assert response.status_code == 400
    assert "not a readable PNG, JPEG or WebP image" in response.content.decode()
    assert not InputImage.objects.exists()
    _nothing_charged(tester)


def test_a_finished_clip_offers_its_modes_and_shows_its_lineage(smoke_model, tester_client, tester):
    source = _finished_clip(tester)
    page = tester_client.get(source.get_absolute_url()).content.decode()
    for mode in ("extend", "upscale"):
        assert f"?derive={source.pk}&amp;mode={mode}" in page

    form = tester_client.get(reverse("generation:job_create"), {"derive": source.pk, "mode": "upscale"})
    assert form.status_code == 200
    assert form.context["form"].initial["width"] == 384 and form.context["form"].initial["source"] == source.pk
    response = tester_client.post(
        reverse("generation:job_create"),
        _page_form(prompt=source.prompt, mode="upscale", width="384", height="256", source=str(source.pk)),
    )
    upscale = RenderJob.objects.get(mode="upscale")
    assert response.status_code == 302 and upscale.source == source

    assert f"clip {upscale.short_id}" in tester_client.get(source.get_absolute_url()).content.decode()
    derived_page = tester_client.get(upscale.get_absolute_url()).content.decode()
    assert "Upscale a clip 2x" in derived_page and f"clip {source.short_id}" in derived_page


def test_another_person_s_clip_cannot_be_derived_from(smoke_model, tester_client, tester2):
    theirs = _finished_clip(tester2)

    assert (
        tester_client.get(reverse("generation:job_create"), {"derive": theirs.pk, "mode": "extend"}).status_code == 404
    )


def test_an_upscale_is_estimated_without_denoising_steps():
    spec = MODELS["ltx-video"]
    size = {"num_frames": 17, "width": 192, "height": 128, "num_steps": 30}

    assert spec.estimate_for_mode("upscale", **size) == spec.estimate_gpu_seconds(**{**size, "num_steps": 1})
    assert spec.estimate_for_mode("extend", **size) == spec.estimate_gpu_seconds(**size)


# --- what a clip was made from, wherever the clip is described -----------------------------------------


def test_the_data_export_names_each_clip_s_mode_and_inputs(smoke_model, api, tester):
    import json
    import zipfile

    from access.export import export_build

    source = _finished_clip(tester)
    first, last = (_upload(api, image_bytes(colour=c)).json()["id"] for c in ((200, 0, 0), (0, 0, 200)))
    keyframes = api.post(
        JOBS, {**API_BODY, **SMALL, "mode": "keyframes", "image": first, "last_image": last}, format="json"
    )
    body = {**API_BODY, **SMALL, "num_frames": 25, "mode": "extend", "source": str(source.pk)}
    extended = api.post(JOBS, body, format="json")

    with zipfile.ZipFile(io.BytesIO(export_build(tester))) as archive:
        jobs = {job["id"]: job for job in json.loads(archive.read("jobs.json"))}
        images = {image["id"]: image for image in json.loads(archive.read("input_images.json"))}

    made = jobs[keyframes.json()["id"]]
    assert (made["mode"], made["image"], made["last_image"], made["source"]) == ("keyframes", first, last, "")
    assert set(images) == {first, last} and images[first]["sha256"] == InputImage.objects.get(pk=first).sha256
    made = jobs[extended.json()["id"]]
    assert (made["mode"], made["source"], made["image"]) == ("extend", str(source.pk), "")


def test_the_trace_tool_names_what_a_traced_clip_was_made_from(
    smoke_model, c2pa_signing, api, tester, client, admin_user
):
    size = {"width": 256, "height": 256}  # two of the mark's tiles across: the mark reads, as well as the credentials
    first, last = (_upload(api, image_bytes(colour=c)).json()["id"] for c in ((200, 0, 0), (0, 0, 200)))
    body = {**API_BODY, **SMALL, **size, "mode": "keyframes", "image": first, "last_image": last}
    keyframes, _ = job_rendered(api.post(JOBS, body, format="json").json()["id"])
    body = {**API_BODY, **SMALL, **size, "num_frames": 25, "mode": "extend", "source": str(keyframes.pk)}
    extended, _ = job_rendered(api.post(JOBS, body, format="json").json()["id"])
    client.force_login(admin_user)

    for job, told in (
        (keyframes, [f"First and last frame, start image {first}, last frame {last}"]),
        (extended, [f"Extend a clip, made from job {keyframes.pk}"]),
    ):
        with job.output.open("rb") as handle:
            clip = SimpleUploadedFile("found.mp4", handle.read(), content_type="video/mp4")
        page = client.post("/leak-alerts/trace/", {"clip": clip}).content.decode()
        assert f"Mark found: job {job.job_code}" in page, page
        for text in told:
            assert text in page, page


def test_ltx_s_and_cogvideox_s_mode_pipelines_share_the_resident_pipeline_s_parts(smoke_model, cogvideox_smoke):
    """The resident worker keeps one copy of a family's weights: each mode's pipeline is built from the resident
    text-to-video pipeline and holds the same transformer, VAE and text encoder, not copies; only LTX's upscale
    adds a part of its own (the latent upsampler), loaded once."""
    for key in ("ltx-video", "cogvideox-2b"):
        spec = MODELS[key]
        resident = runner.pipeline_get(spec)
        for mode in spec.modes:
            pipeline = runner.mode_pipeline_get(spec, mode)
            assert type(pipeline).__name__ == mode.pipeline_class
            assert runner.mode_pipeline_get(spec, mode) is pipeline, "made once per process"
            shared = [name for name in ("transformer", "vae", "text_encoder", "tokenizer") if hasattr(pipeline, name)]
            assert shared, mode
            for name in shared:
                assert getattr(pipeline, name) is getattr(resident, name), (key, mode.key, name)
            for part in mode.extra_components:
                assert type(getattr(pipeline, part.name)).__name__ == part.class_path.rsplit(".", 1)[1]
    runner._pipelines.pop("cogvideox-2b", None)  # keep the worker's memory for the other tests
