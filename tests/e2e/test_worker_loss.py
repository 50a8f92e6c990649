"""Invariant 4: a worker that dies mid-render loses no job. The render's process is killed with
SIGKILL; Celery hands the message back (late acks, reject on worker loss), a fresh process claims the
job again as its second attempt and finishes it, and the grant is charged once."""

import signal

import psutil
import pytest

from generation.models import RenderJob
from generation.quota import grant_usage
from generation.submission import job_create
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SETTINGS = {
    "prompt": "a slow storm",
    "model_key": "ltx-video",
    "num_frames": 25,
    "width": 704,
    "height": 480,
    "num_steps": 40,
    "guidance_scale": 3.0,
    "seed": 3,
}


def test_a_render_whose_process_is_killed_is_run_again_and_charged_once(celery_worker, tester):
    job = job_create(owner=tester, **SETTINGS)
    wait_for(lambda: RenderJob.objects.get(pk=job.pk).progress_step >= 2, timeout=120, message="two steps")
    children = psutil.Process(celery_worker.pid).children()
    assert len(children) == 1, "one pool process renders"
    children[0].send_signal(signal.SIGKILL)

    done = wait_for(
        lambda: (j := RenderJob.objects.get(pk=job.pk)).is_finished and j,
        timeout=180,
        message="the job to finish after the kill",
    )

    assert done.state == RenderJob.State.SUCCEEDED, done.error
    assert done.attempts == 2
    assert done.progress_step == 40 and done.output
    assert grant_usage(done.grant)["seconds_total"] == pytest.approx(done.gpu_seconds)
    assert psutil.Process(celery_worker.pid).children()[0].pid != children[0].pid


def test_a_worker_that_restarts_takes_back_the_job_it_was_cut_off_from(
    celery_worker, tester, media_root, c2pa_dev_ca, tmp_path
):
    """A whole worker killed mid-render (parent and child: no message comes back) and started again under
    its name: at start it puts the job it left running back in the queue, and the job is rendered once more."""
    import socket

    from tests.conftest import c2pa_environment
    from tests.e2e.conftest import worker_start, worker_stop

    hostname = f"restart@{socket.gethostname()}"
    job = job_create(owner=tester, **SETTINGS | {"num_steps": 4})
    # As the killed worker left it: claimed, two steps in, its message acknowledged and gone.
    RenderJob.objects.filter(pk=job.pk).update(state="running", attempts=1, worker=hostname, progress_step=2)
    restarted = worker_start(
        env={"MEDIA_ROOT": str(media_root), **c2pa_environment(c2pa_dev_ca)},
        log_path=tmp_path / "restarted.log",
        hostname="restart@%h",
    )
    try:
        # Either worker may render it once it is back in the queue; nothing else would have put it there.
        done = wait_for(
            lambda: (j := RenderJob.objects.get(pk=job.pk)).is_finished and j,
            timeout=120,
            message="the job the restarted worker was cut off from to be rendered again",
        )
    finally:
        worker_stop(restarted)

    assert done.state == RenderJob.State.SUCCEEDED, done.error
    assert done.attempts == 2
    assert "reason=restart@" in (tmp_path / "restarted.log").read_text()
