"""Every creative mode through the API and a separate Celery worker process with the smoke models, each clip
decoded back from its media link; prints the time from submit to playable per mode."""

import io
import time

import av
import pytest
from django.core.management import call_command
from PIL import Image

from generation.models import RenderJob
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JOBS, UPLOADS = "/api/v1/jobs/", "/api/v1/uploads/"
SMALL = {"num_frames": 17, "width": 192, "height": 128, "num_steps": 4, "guidance_scale": 3.0, "seed": 5}


@pytest.fixture(scope="module", autouse=True)
def cogvideox_smoke(django_db_blocker):
    with django_db_blocker.unblock():
        call_command("smoke_build", "cogvideox-2b", "--if-missing", verbosity=0)
        call_command("smoke_build", "cogvideox-5b", "--if-missing", verbosity=0)
        call_command("smoke_build", "wan2.1-14b", "--if-missing", verbosity=0)


def _upload(api, colour, kind="PNG") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), colour).save(buffer, format=kind)
    buffer.seek(0)
    buffer.name = f"still.{kind.lower()}"
    response = api.post(UPLOADS, {"file": buffer}, format="multipart")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def _submit_and_play(api, body) -> tuple[dict, list, float]:
    """Submit, wait until the clip plays (succeeded and its MP4 decodes), return (job, frames, seconds)."""
    started = time.perf_counter()
    response = api.post(JOBS, body, format="json")
    assert response.status_code == 201, response.json()
    job_id = response.json()["id"]
    job = wait_for(lambda: (j := RenderJob.objects.get(pk=job_id)).is_finished and j, timeout=180, message="the render")
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    detail = api.get(f"{JOBS}{job_id}/").json()
    video = b"".join(api.get(detail["video_url"]).streaming_content)
    with av.open(io.BytesIO(video)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(container.streams.video[0])]
    return detail, frames, time.perf_counter() - started


def test_every_mode_renders_on_a_real_worker(celery_worker, api):
    timings = {}
    base = {"prompt": "a red bird over the sea", "model_key": "ltx-video", **SMALL}

    source, frames, timings["text_to_video"] = _submit_and_play(api, base)
    assert len(frames) == 17 and frames[0].shape == (128, 192, 3)

    image = _upload(api, (220, 40, 40))
    clip, frames, timings["image_to_video"] = _submit_and_play(api, {**base, "mode": "image_to_video", "image": image})
    assert len(frames) == 17 and clip["image"] == image

    last = _upload(api, (40, 40, 220), kind="JPEG")
    body = {**base, "mode": "keyframes", "image": image, "last_image": last}
    _, frames, timings["keyframes"] = _submit_and_play(api, body)
    assert len(frames) == 17

    body = {**base, "num_frames": 33, "mode": "extend", "source": source["id"]}
    extended, frames, timings["extend"] = _submit_and_play(api, body)
    # The source's 17 frames, then the 33 new ones less the 9 they continue from.
    assert len(frames) == 17 + 33 - 9 and extended["source"] == source["id"]

    body = {**base, "width": 384, "height": 256, "mode": "upscale", "source": source["id"]}
    _, frames, timings["upscale"] = _submit_and_play(api, body)
    assert len(frames) == 17 and frames[0].shape == (256, 384, 3)

    assert set(api.get(f"{JOBS}{source['id']}/").json()["derived"]) >= {extended["id"]}

    cog = {"prompt": "a storm at sea", "model_key": "cogvideox-2b", **SMALL, "num_frames": 9}
    cog_source, _, timings["text_to_video (cogvideox-2b, first load)"] = _submit_and_play(api, cog)
    body = {**cog, "mode": "restyle", "source": cog_source["id"], "strength": 0.6}
    restyled, frames, timings["restyle (cogvideox-2b)"] = _submit_and_play(api, body)
    assert len(frames) == 9 and restyled["strength"] == 0.6

    # CogVideoX 5B's image to video: the I2V transformer loaded beside the resident 5B pipeline's parts.
    cog5 = {**cog, "model_key": "cogvideox-5b", "width": 720, "height": 480, "num_steps": 2}
    body = {**cog5, "mode": "image_to_video", "image": image}
    clip, frames, timings["image_to_video (cogvideox-5b, first load)"] = _submit_and_play(api, body)
    assert len(frames) == 9 and frames[0].shape == (480, 720, 3) and clip["image"] == image

    # Wan 2.1 14B: the image checkpoints' transformers, CLIP image encoder and processor beside Wan's parts.
    wan = {"prompt": "a horse running", "model_key": "wan2.1-14b", **SMALL, "num_frames": 9, "num_steps": 2}
    body = {**wan, "mode": "image_to_video", "image": image}
    clip, frames, timings["image_to_video (wan2.1-14b, first load)"] = _submit_and_play(api, body)
    assert len(frames) == 9 and frames[0].shape == (128, 192, 3) and clip["image"] == image
    body = {**wan, "mode": "keyframes", "image": image, "last_image": last}
    clip, frames, timings["keyframes (wan2.1-14b)"] = _submit_and_play(api, body)
    assert len(frames) == 9 and clip["last_image"] == last

    for mode, seconds in timings.items():
        print(f"submit-to-playable {mode}: {seconds:.2f} s")
