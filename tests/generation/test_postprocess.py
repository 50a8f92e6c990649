"""Post-render work runs beside the next render: the render loop hands the frames over and returns."""

import threading

import numpy as np
import pytest

from generation import job_actions, postprocess, queue, render
from generation.encoding import probe_mp4
from generation.models import RenderJob
from tests.factories import RenderJobFactory


@pytest.fixture
def threaded(settings):
    settings.BACKLOT_POSTPROCESS_INLINE = False
    yield
    postprocess.drain()


@pytest.mark.django_db(transaction=True)
def test_the_render_loop_returns_before_the_clip_is_encoded(smoke_model, tester, threaded):
    busy, release = threading.Event(), threading.Event()
    postprocess.submit(lambda: (busy.set(), release.wait(30)))  # post-processing still busy with an earlier clip
    assert busy.wait(10)
    job = RenderJobFactory(owner=tester, num_frames=9, width=64, height=64, num_steps=2)

    returned = render.job_render(job_id=job.pk, worker="w")

    assert returned.state == RenderJob.State.RUNNING
    assert (returned.progress_step, returned.progress_total) == (2, 2) and returned.gpu_seconds is None
    assert postprocess.pending() == 2
    release.set()
    postprocess.drain()
    job.refresh_from_db()
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    assert job.charged_seconds == job.gpu_seconds > 0
    with job.output.open("rb") as clip:
        assert probe_mp4(clip.read())["frames"] == 9


@pytest.mark.django_db(transaction=True)
def test_a_job_cancelled_while_it_waits_for_post_processing_stores_nothing(smoke_model, tester, threaded):
    release = threading.Event()
    postprocess.submit(lambda: release.wait(30))
    job = RenderJobFactory(owner=tester, num_frames=9, width=64, height=64, num_steps=2)
    render.job_render(job_id=job.pk, worker="w")

    assert job_actions.job_cancel(job=RenderJob.objects.get(pk=job.pk))
    release.set()
    postprocess.drain()

    job.refresh_from_db()
    assert job.state == RenderJob.State.CANCELLED and not job.output and job.charged_seconds == 0


def test_an_encoding_failure_fails_the_job_with_the_reason_and_refunds_it(smoke_model, tester):
    job = RenderJobFactory(owner=tester, num_frames=9, width=66, height=64, num_steps=2)
    claimed = queue.job_claim(job_id=job.pk, worker="w")
    odd = np.zeros((9, 63, 64, 3), dtype=np.uint8)  # H.264 refuses odd sizes
    render.job_finish(job=claimed, frames=odd, device_seconds=1.5)

    job.refresh_from_db()
    assert job.state == RenderJob.State.FAILED and "could not be encoded" in job.error
    assert job.charged_seconds == 0 and not job.output
