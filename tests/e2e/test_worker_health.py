"""Workers that fail safe, with two real worker processes on a broker of their own: one whose model cannot
load (its model folder is missing), one healthy. The broken one marks itself unhealthy as it starts, stops
consuming, and takes no job, even while it is the only worker; every job is rendered by the healthy one,
none fails; the staff queue shows the broken worker unhealthy with its reason; a reset makes it consume
again."""

import time

import pytest
from django.urls import reverse

from generation import health
from generation.models import RenderJob, Worker
from generation.quota import grant_usage
from generation.submission import job_create
from tests.conftest import c2pa_environment
from tests.e2e.conftest import wait_for
from tests.e2e.servers import private_filesystem_broker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SMALL = {"model_key": "ltx-video", "num_frames": 9, "width": 256, "height": 256, "num_steps": 4, "guidance_scale": 3.0}


@pytest.fixture
def worker_env(c2pa_dev_ca, tmp_path):
    """Signed clips, and a broker of this test's own."""
    with private_filesystem_broker(tmp_path / "broker") as broker:
        yield {**c2pa_environment(c2pa_dev_ca), **broker}


def _all_finished() -> list[RenderJob]:
    jobs = list(RenderJob.objects.all())
    return jobs if all(job.is_finished for job in jobs) else []


def test_a_worker_whose_model_cannot_load_takes_no_job_and_every_job_succeeds_on_the_healthy_one(
    start_worker, tester, admin_user, client, tmp_path
):
    started = time.monotonic()
    missing = tmp_path / "no-such-model"
    broken = start_worker(name="broken", loaded=False, BACKLOT_MODEL_SOURCES=f"ltx-video={missing}")
    row = wait_for(
        lambda: Worker.objects.filter(hostname__startswith="broken@", unhealthy_since__isnull=False).first(),
        timeout=60,
        message="the broken worker to mark itself unhealthy",
    )
    wait_for(lambda: "Canceling queue render.ltx-video" in broken.log(), timeout=30, message="it to stop consuming")

    # Alone, it takes nothing: the jobs wait for a healthy worker.
    jobs = [job_create(owner=tester, prompt=f"a lantern {n}", seed=n, **SMALL) for n in range(3)]
    time.sleep(3)
    assert set(RenderJob.objects.values_list("state", "attempts")) == {("queued", 0)}

    start_worker(name="healthy")
    jobs += [job_create(owner=tester, prompt=f"a lantern {n}", seed=n, **SMALL) for n in range(3, 6)]
    done = wait_for(_all_finished, timeout=180, message="the six jobs to finish")

    assert len(done) == 6
    for job in done:
        assert job.state == RenderJob.State.SUCCEEDED, job.error
        assert job.worker.startswith("healthy@") and job.attempts == 1 and job.given_back == 0
    assert grant_usage(done[0].grant)["seconds_total"] == pytest.approx(sum(job.gpu_seconds for job in done))
    row.refresh_from_db()
    assert row.health_reason.startswith(f"Could not load LTX-Video from {missing}")
    assert "generation.worker_unhealthy" in broken.log() and "generation.render_job[" not in broken.log(), (
        "it received no job"
    )

    client.force_login(admin_user)
    page = client.get(reverse("generation_staff:queue")).content.decode()
    broken_row = page[page.index(f'id="worker-{row.pk}"') :].split("</tr>")[0]
    assert 'data-health="unhealthy"' in broken_row and f"Could not load LTX-Video from {missing}" in broken_row
    healthy_row = Worker.objects.get(hostname__startswith="healthy@")
    assert 'data-health="healthy"' in page[page.index(f'id="worker-{healthy_row.pk}"') :].split("</tr>")[0]

    # Staff reset it: within a heartbeat it consumes its model queue again.
    assert health.worker_health_reset(worker=row, actor=admin_user)
    wait_for(
        lambda: "Started consuming from render.ltx-video" in broken.log(),
        timeout=30,
        message="the reset worker to consume again",
    )
    print(f"\nbroken + healthy worker, 6 jobs: {time.monotonic() - started:.1f} s")
