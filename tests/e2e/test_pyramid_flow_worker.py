"""Pyramid Flow's smoke build through the API and a separate Celery worker process: text to video and image to
video decoded back from the MP4, progress over every step of every stage of every frame, a cancel mid-render."""

import io

import av
import pytest
from django.core.management import call_command
from PIL import Image

from generation.models import RenderJob
from generation.registry import IMAGE_TO_VIDEO, MODELS
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JOBS, UPLOADS = "/api/v1/jobs/", "/api/v1/uploads/"
SPEC = MODELS["pyramid-flow"]
SMALL = {"num_frames": 17, "width": 192, "height": 128, "num_steps": 2, "guidance_scale": 7.0, "seed": 3}


@pytest.fixture(scope="module", autouse=True)
def pyramid_flow_smoke(django_db_blocker):
    with django_db_blocker.unblock():
        call_command("smoke_build", "pyramid-flow", "--if-missing", verbosity=0)


def _job(job_id) -> RenderJob:
    return RenderJob.objects.get(pk=job_id)


def _render_and_decode(api, body) -> tuple[RenderJob, list]:
    response = api.post(JOBS, body, format="json")
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    job = wait_for(lambda: (j := _job(job_id)).is_finished and j, timeout=300, message="the Pyramid Flow render")
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    detail = api.get(f"{JOBS}{job_id}/").json()
    video = b"".join(api.get(detail["video_url"]).streaming_content)
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return job, frames


def test_pyramid_flow_renders_text_and_image_to_video_on_a_real_worker(celery_worker, api):
    job, frames = _render_and_decode(api, {"prompt": "a red bird over the sea", "model_key": "pyramid-flow", **SMALL})
    # 17 frames = 3 latent frames; the first runs 3 stages x 2 steps, the other two 3 stages x 1 step each.
    assert (job.progress_step, job.progress_total) == (12, 12)
    assert len(frames) == 17 and frames[0].shape == (128, 192, 3)

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (230, 30, 30)).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "still.png"
    image = api.post(UPLOADS, {"file": buffer}, format="multipart").json()["id"]
    body = {"prompt": "a red bird", "model_key": "pyramid-flow", "mode": IMAGE_TO_VIDEO, "image": image, **SMALL}
    job, frames = _render_and_decode(api, body)
    # The image is the first latent frame: only the other two are denoised.
    assert (job.progress_step, job.progress_total) == (6, 6)
    assert job.mode == IMAGE_TO_VIDEO
    assert len(frames) == 17 and frames[0].shape == (128, 192, 3)


def test_a_pyramid_flow_render_stops_at_the_next_step_when_cancelled(celery_worker, api):
    long = {**SMALL, "num_frames": 121, "width": 640, "height": 384, "num_steps": 50}
    total = SPEC.denoising_steps(num_frames=121, num_steps=50)
    response = api.post(JOBS, {"prompt": "a slow storm", "model_key": "pyramid-flow", **long}, format="json")
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]

    wait_for(lambda: _job(job_id).progress_step >= 2, timeout=240, message="two denoising steps")
    midway = api.get(f"{JOBS}{job_id}/").json()
    assert midway["state"] == "running" and 2 <= midway["progress_step"] < total
    assert _job(job_id).progress_total == total == 3 * 50 + 15 * 3 * 25
    assert api.post(f"{JOBS}{job_id}/cancel/").json()["state"] == "cancelled"

    # The worker notices at its next step, gives up the job and takes the next one.
    follow_up = api.post(JOBS, {"prompt": "after", "model_key": "pyramid-flow", **SMALL}, format="json").json()
    wait_for(lambda: _job(follow_up["id"]).is_finished, timeout=240, message="the next job")
    job = _job(job_id)
    assert job.state == RenderJob.State.CANCELLED
    assert job.progress_step < total
    assert not job.output
    assert _job(follow_up["id"]).state == RenderJob.State.SUCCEEDED
