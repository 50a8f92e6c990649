"""Wan 2.1 14B's image to video and first and last frame: WanImageToVideoPipeline built on the resident Wan
pipeline with three parts of the image checkpoints (transformer, CLIP image encoder, its processor), rendered
in-process with the smoke build."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from access.policy import current_grant
from generation import quota, runner
from generation.models import RenderJob
from generation.registry import MODELS
from tests.factories import image_bytes
from tests.generation.job_requests import API_BODY, job_rendered

pytestmark = pytest.mark.django_db

JOBS, UPLOADS = "/api/v1/jobs/", "/api/v1/uploads/"
WAN = {**API_BODY, "model_key": "wan2.1-14b", "num_frames": 9, "width": 192, "height": 128, "num_steps": 2}


@pytest.fixture(scope="module")
def wan_smoke(django_db_blocker):
    with django_db_blocker.unblock():
        call_command("smoke_build", "wan2.1-14b", "--if-missing", verbosity=0)
    yield
    runner._pipelines.pop("wan2.1-14b", None)  # keep the process's memory for the other tests


def _upload(api, data: bytes) -> str:
    file = io.BytesIO(data)
    file.name = "still.png"
    response = api.post(UPLOADS, {"file": file}, format="multipart")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _nothing_charged(user):
    assert not RenderJob.objects.filter(owner=user).exists()
    usage = quota.grant_usage(current_grant(user))
    assert usage["seconds_total"] == 0 and usage["seconds_reserved"] == 0


def test_wan_14b_offers_image_to_video_and_first_and_last_frame(api):
    models = {entry["key"]: entry for entry in api.get("/api/v1/models/").json()}

    wan = {mode["key"]: mode for mode in models["wan2.1-14b"]["modes"]}
    assert set(wan) == {"text_to_video", "image_to_video", "keyframes"}
    assert {wan[key]["pipeline"] for key in ("image_to_video", "keyframes")} == {"WanImageToVideoPipeline"}
    assert wan["keyframes"]["inputs"] == ["image", "last_image"]
    assert [mode["key"] for mode in models["wan2.1-1.3b"]["modes"]] == ["text_to_video"]


def test_each_mode_s_extra_parts_load_with_their_declared_classes():
    from generation.runner import pipeline_class_get

    for spec in MODELS.values():
        for mode in spec.modes:
            for part in mode.extra_components:
                assert hasattr(pipeline_class_get(part.class_path), "from_pretrained"), part


def test_wan_renders_image_to_video_with_the_image_checkpoint_s_parts(wan_smoke, api, tester):
    image = _upload(api, image_bytes(320, 200, colour=(230, 30, 30)))

    body = {**WAN, "mode": "image_to_video", "image": image, "guidance_scale": 1.0}  # no negative prompt pass

    response = api.post(JOBS, body, format="json")

    assert response.status_code == 201, response.json()
    job, frames = job_rendered(response.json()["id"])
    assert frames.shape == (9, 128, 192, 3) and job.mark_code and job.charged_seconds == job.gpu_seconds
    resident = runner._pipelines["wan2.1-14b"]
    pipeline = runner._mode_pipelines[("wan2.1-14b", "image_to_video")][1]
    # The I2V transformer takes the image latents and a mask as extra channels, and the CLIP image tokens.
    assert pipeline.transformer.config.in_channels == 36 and pipeline.transformer.config.image_dim
    assert pipeline.image_encoder.config.model_type == "clip_vision_model"
    assert pipeline.vae is resident.vae and pipeline.text_encoder is resident.text_encoder
    assert pipeline.transformer is not resident.transformer


def test_wan_renders_between_a_first_and_a_last_frame_sharing_the_image_encoder(wan_smoke, api, tester):
    first = _upload(api, image_bytes(colour=(230, 30, 30)))
    last = _upload(api, image_bytes(colour=(30, 30, 230)))
    body = {**WAN, "mode": "keyframes", "image": first, "last_image": last, "negative_prompt": "blurry"}

    response = api.post(JOBS, body, format="json")

    assert response.status_code == 201, response.json()
    job, frames = job_rendered(response.json()["id"])
    assert frames.shape == (9, 128, 192, 3) and str(job.last_image_id) == last
    keyframes = runner._mode_pipelines[("wan2.1-14b", "keyframes")][1]
    # The first-and-last-frame checkpoint's transformer reads both images' tokens at once.
    assert keyframes.transformer.config.pos_embed_seq_len == 2 * 17
    image_to_video = runner.mode_pipeline_get(MODELS["wan2.1-14b"], MODELS["wan2.1-14b"].mode_get("image_to_video"))
    assert keyframes.image_encoder is image_to_video.image_encoder  # one copy for both modes
    assert keyframes.transformer is not image_to_video.transformer


def test_wan_1_3b_has_no_image_to_video_and_charges_nothing(api, tester):
    image = _upload(api, image_bytes())

    response = api.post(
        JOBS, {**WAN, "model_key": "wan2.1-1.3b", "mode": "image_to_video", "image": image}, format="json"
    )

    assert response.status_code == 400
    assert "Wan 2.1 1.3B does not offer 'image_to_video'" in response.json()["mode"][0]
    _nothing_charged(tester)


def test_wan_image_to_video_above_the_480p_checkpoint_s_size_is_refused_and_charges_nothing(api, tester):
    image = _upload(api, image_bytes())
    body = {**WAN, "width": 1280, "height": 720, "mode": "image_to_video", "image": image}

    response = api.post(JOBS, body, format="json")

    assert response.status_code == 400
    assert response.json()["width"] == [
        "Wan 2.1 14B's image to video renders at most 399,360 pixels a frame; 1280x720 is 921,600."
    ]
    _nothing_charged(tester)


def test_wan_first_and_last_frame_needs_both_images_and_charges_nothing(api, tester):
    image = _upload(api, image_bytes())

    response = api.post(JOBS, {**WAN, "mode": "keyframes", "image": image}, format="json")

    assert response.status_code == 400 and response.json()["last_image"] == ["This mode needs last image."]
    _nothing_charged(tester)


def test_wan_s_smoke_build_is_byte_identical_twice_and_complete_only_with_its_image_parts(tmp_path):
    from generation.smoke import smoke_build, smoke_present

    first, second = (smoke_build(model_key="wan2.1-14b", folder=tmp_path / name) for name in ("one", "two"))

    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(second) for path in second.rglob("*") if path.is_file())
    assert all((first / name).read_bytes() == (second / name).read_bytes() for name in files)
    assert smoke_present(model_key="wan2.1-14b", folder=first)
    (first / "image_processor" / "preprocessor_config.json").unlink()
    assert not smoke_present(model_key="wan2.1-14b", folder=first)


# --- the generate page ---------------------------------------------------------------------------------


def _page_form(**changes):
    from tests.generation.job_requests import PAGE_FORM

    return {**PAGE_FORM, "model_key": "wan2.1-14b", "num_frames": "9", "width": "192", "height": "128", **changes}


def _still(colour) -> SimpleUploadedFile:
    return SimpleUploadedFile("still.png", image_bytes(colour=colour), content_type="image/png")


def test_the_generate_page_renders_wan_between_two_uploaded_frames(wan_smoke, tester_client, tester):
    form = _page_form(mode="keyframes", image=_still((230, 30, 30)), last_image=_still((30, 30, 230)))

    response = tester_client.post(reverse("generation:job_create"), form)

    job = RenderJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.model_key, job.mode) == ("wan2.1-14b", "keyframes")
    assert job.image.owner == tester and job.last_image.owner == tester
    job, frames = job_rendered(job.pk)
    assert frames.shape == (9, 128, 192, 3)
    page = tester_client.get(job.get_absolute_url()).content.decode()
    assert "First frame" in page and "Last frame" in page


def test_the_generate_page_renders_wan_from_an_uploaded_image(wan_smoke, tester_client, tester):
    form = _page_form(mode="image_to_video", image=_still((230, 30, 30)))

    response = tester_client.post(reverse("generation:job_create"), form)

    job = RenderJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.model_key, job.mode, job.image.owner) == ("wan2.1-14b", "image_to_video", tester)
    job, frames = job_rendered(job.pk)
    assert frames.shape == (9, 128, 192, 3) and job.charged_seconds == job.gpu_seconds
    page = tester_client.get(job.get_absolute_url()).content.decode()
    assert "Image to video" in page and "PNG 96×64" in page


def test_the_generate_page_refuses_wan_1_3b_image_to_video_and_charges_nothing(tester_client, tester):
    form = _page_form(model_key="wan2.1-1.3b", mode="image_to_video", image=_still((230, 30, 30)))

    response = tester_client.post(reverse("generation:job_create"), form)

    assert response.status_code == 400
    assert "image_to_video is not one of the available choices" in response.content.decode()
    _nothing_charged(tester)
