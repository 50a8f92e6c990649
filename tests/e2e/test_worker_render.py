"""Submit through the API, render in a separate Celery worker process, decode the MP4 back."""

import io

import av
import pytest

from generation.models import RenderJob
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JOBS = "/api/v1/jobs/"


def _job(job_id) -> RenderJob:
    return RenderJob.objects.get(pk=job_id)


def test_a_worker_renders_a_submitted_job_to_an_mp4(celery_worker, api):
    settings = {"num_frames": 33, "width": 192, "height": 128, "num_steps": 6, "guidance_scale": 3.0, "seed": 5}
    response = api.post(JOBS, {"prompt": "a bird over the sea", "model_key": "ltx-video", **settings}, format="json")
    assert response.status_code == 201
    job_id = response.json()["id"]

    job = wait_for(lambda: (j := _job(job_id)).is_finished and j, timeout=120, message="the render to finish")

    assert job.state == RenderJob.State.SUCCEEDED, job.error
    assert job.worker.startswith("e2e@")
    assert (job.progress_step, job.progress_total, job.attempts) == (6, 6, 1)
    body = api.get(f"{JOBS}{job_id}/").json()
    assert body["state"] == "succeeded" and "/clips/media/" in body["video_url"]
    video = b"".join(api.get(body["video_url"]).streaming_content)
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert stream.codec_context.name == "h264"
    assert len(frames) == 33
    assert frames[0].shape == (128, 192, 3)


def test_a_running_job_reports_progress_and_stops_when_cancelled(celery_worker, api):
    response = api.post(
        JOBS,
        {
            "prompt": "a slow storm",
            "model_key": "ltx-video",
            "num_frames": 121,
            "width": 704,
            "height": 480,
            "num_steps": 100,
            "guidance_scale": 3.0,
        },
        format="json",
    )
    job_id = response.json()["id"]

    wait_for(lambda: _job(job_id).progress_step >= 2, timeout=120, message="two denoising steps")
    midway = api.get(f"{JOBS}{job_id}/").json()
    assert midway["state"] == "running" and 2 <= midway["progress_step"] < 100
    assert api.post(f"{JOBS}{job_id}/cancel/").json()["state"] == "cancelled"

    # The worker notices at its next step, gives up the job and takes the next one.
    follow_up = api.post(
        JOBS,
        {
            "prompt": "after",
            "model_key": "ltx-video",
            "num_frames": 9,
            "width": 128,
            "height": 128,
            "num_steps": 2,
            "guidance_scale": 3.0,
        },
        format="json",
    ).json()
    wait_for(lambda: _job(follow_up["id"]).is_finished, timeout=60, message="the next job")
    job = _job(job_id)
    assert job.state == RenderJob.State.CANCELLED
    assert job.progress_step < 100
    assert not job.output
    assert _job(follow_up["id"]).state == RenderJob.State.SUCCEEDED


def test_a_clip_a_worker_rendered_is_traced_back_to_its_job_after_a_leak(
    celery_worker, api, tester, admin_user, c2pa_signing
):
    from generation import trace
    from generation.credentials import credentials_read
    from tests.generation.clips import crop, half_size

    settings = {"num_frames": 25, "width": 256, "height": 256, "num_steps": 4, "guidance_scale": 3.0, "seed": 9}
    job_id = api.post(JOBS, {"prompt": "a lighthouse", "model_key": "ltx-video", **settings}, format="json").json()[
        "id"
    ]
    job = wait_for(lambda: (j := _job(job_id)).is_finished and j, timeout=120, message="the render to finish")
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    clip = b"".join(api.get(api.get(f"{JOBS}{job_id}/").json()["video_url"]).streaming_content)

    credentials = credentials_read(clip)
    assert (credentials.status, credentials.job_code) == ("valid", job.job_code), credentials.describe()
    for leaked in (clip, crop(clip, fraction=0.1, top=13, left=7), half_size(clip)):
        result = trace.trace_clip(leaked, actor=admin_user)
        assert result.found and result.job == job and result.job.owner == tester
