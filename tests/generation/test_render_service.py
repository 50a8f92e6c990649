"""The render path in-process, with the real smoke model: claim, progress, encode, store, finish."""

import numpy as np
import pytest

from generation import job_actions, queue, quota, render, runner
from generation.encoding import probe_mp4
from generation.models import RenderJob, Worker
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_pipelines():
    runner._pipelines.clear()
    yield
    runner._pipelines.clear()


def test_a_job_renders_to_a_playable_mp4(smoke_model, tester):
    job = RenderJobFactory(owner=tester, num_frames=17, width=96, height=64, num_steps=3)

    render.job_render(job_id=job.pk, worker="test-worker")

    job.refresh_from_db()
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    assert (job.progress_step, job.progress_total) == (3, 3)
    assert job.attempts == 1 and job.worker == "test-worker"
    assert job.started_at >= job.queued_at and job.finished_at >= job.started_at
    assert job.gpu_seconds > 0 and job.encode_seconds > 0
    with job.output.open("rb") as clip:
        data = clip.read()
    assert job.output_bytes == len(data)
    assert probe_mp4(data) == {"codec": "h264", "width": 96, "height": 64, "frames": 17, "fps": 24.0}


def test_progress_is_reported_after_every_step(smoke_model):
    steps = []
    params = runner.RenderParams("a red bird", "", 9, 64, 64, 4, 3.0, 1)

    runner.render(smoke_model, params, on_step=lambda done, total: steps.append((done, total)))

    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_the_same_seed_gives_the_same_frames(smoke_model):
    params = runner.RenderParams("a red bird", "", 9, 64, 64, 2, 3.0, 1234)
    first = runner.render(smoke_model, params, on_step=lambda *_: None).frames
    second = runner.render(smoke_model, params, on_step=lambda *_: None).frames
    other = runner.render(smoke_model, params.__class__(**{**params.__dict__, "seed": 1235}), on_step=lambda *_: None)

    assert np.array_equal(first, second)
    assert not np.array_equal(first, other.frames)


def test_a_model_that_cannot_load_gives_the_job_back_and_marks_the_worker_unhealthy(
    tester, settings, fresh_pipelines, tmp_path
):
    settings.BACKLOT_MODEL_SOURCES = {"ltx-video": str(tmp_path / "missing")}
    job = RenderJobFactory(owner=tester, charged_seconds=7)

    render.job_render(job_id=job.pk, worker="w")

    job.refresh_from_db()
    assert (job.state, job.worker, job.charged_seconds, job.error) == ("queued", "", 7, "")
    worker = Worker.objects.get(hostname="w")
    assert worker.health_reason.startswith("Could not load LTX-Video from ")
    assert str(tmp_path / "missing") in worker.health_reason


def test_a_crash_inside_the_pipeline_gives_the_job_back_and_leaves_nothing_running(smoke_model, tester, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(runner, "render", explode)
    job = RenderJobFactory(owner=tester)

    render.job_render(job_id=job.pk, worker="w")

    job.refresh_from_db()
    assert (job.state, job.attempts, job.error) == ("queued", 1, "")
    assert Worker.objects.get(hostname="w").failures_in_row == 1


def test_a_cancelled_job_is_never_started(tester):
    job = RenderJobFactory(owner=tester)
    job_actions.job_cancel(job=job)

    assert render.job_render(job_id=job.pk, worker="w") is None

    job.refresh_from_db()
    assert job.state == RenderJob.State.CANCELLED and job.attempts == 0


def test_a_finished_job_is_not_run_again(smoke_model, tester):
    job = RenderJobFactory(owner=tester)
    render.job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    finished_at, output = job.finished_at, job.output.name

    assert render.job_render(job_id=job.pk, worker="w2") is None

    job.refresh_from_db()
    assert (job.state, job.attempts, job.finished_at, job.output.name) == ("succeeded", 1, finished_at, output)


def test_a_job_left_running_by_a_dead_worker_is_retried_then_failed(tester):
    job = RenderJobFactory(owner=tester, state=RenderJob.State.RUNNING, attempts=1)

    assert queue.job_claim(job_id=job.pk, worker="w2") is not None
    RenderJob.objects.filter(pk=job.pk).update(attempts=queue.MAX_ATTEMPTS)
    assert queue.job_claim(job_id=job.pk, worker="w3") is None

    job.refresh_from_db()
    assert job.state == RenderJob.State.FAILED
    assert "stopped its worker 3 times" in job.error


def test_a_cancelled_job_stops_at_its_next_step(tester):
    job = queue.job_claim(job_id=RenderJobFactory(owner=tester).pk, worker="w")
    render.job_progress(job=job, step=1, total=2)
    RenderJob.objects.filter(pk=job.pk).update(state=RenderJob.State.CANCELLED)

    with pytest.raises(runner.RenderStopped):
        render.job_progress(job=job, step=2, total=2)
    job.refresh_from_db()
    assert (job.state, job.progress_step) == ("cancelled", 1)


def test_a_deactivated_owner_stops_their_running_job(tester):
    job = queue.job_claim(job_id=RenderJobFactory(owner=tester).pk, worker="w")
    tester.is_active = False
    tester.save()

    with pytest.raises(runner.RenderStopped, match="deactivated"):
        render.job_progress(job=job, step=1, total=2)
    job.refresh_from_db()
    assert job.state == RenderJob.State.CANCELLED
    assert "deactivated" in job.error


def test_a_stale_attempt_cannot_finish_a_job_taken_over(tester):
    job = queue.job_claim(job_id=RenderJobFactory(owner=tester).pk, worker="w1")
    RenderJob.objects.filter(pk=job.pk).update(attempts=job.attempts + 1)

    assert not render.job_succeed(job=job, video=b"not really", device_seconds=1, encode_seconds=1)
    job.refresh_from_db()
    assert job.state == RenderJob.State.RUNNING and not job.output


def test_a_full_media_disk_fails_the_job_with_a_reason_refunds_it_and_leaves_no_file(
    smoke_model, tester, settings, media_root
):
    from tests.full_disk import disk_fill, disk_free

    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.full_disk.FullDiskStorage"}}
    job = RenderJobFactory(owner=tester, num_frames=9, width=64, height=64, num_steps=2, charged_seconds=30)
    files_before = sorted(p for p in media_root.rglob("*") if p.is_file())
    disk_fill(media_root)
    try:
        render.job_render(job_id=job.pk, worker="test-worker")
    finally:
        disk_free(media_root)

    job.refresh_from_db()
    assert (job.state, job.charged_seconds, job.output.name) == ("failed", 0, "")
    assert job.error == (
        "The clip could not be stored: the media storage is full. Its GPU time was refunded; try again later."
    )
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == files_before
    assert quota.grant_usage(job.grant)["seconds_total"] == 0

    after = RenderJobFactory(owner=tester, num_frames=9, width=64, height=64, num_steps=2)
    render.job_render(job_id=after.pk, worker="test-worker")
    after.refresh_from_db()
    assert after.state == "succeeded", "once there is room again, the next job is stored"
