"""Workers that fail safe (generation/health.py): whose fault a failed render is, the run of failures that
makes a worker unhealthy, the job given back instead of failed, the bound on give-backs, a worker that
claims nothing once unhealthy, the alert, and the staff page and command that show and clear the mark. Two
real worker processes, one with a broken model, are in tests/e2e/test_worker_health.py."""

import logging
import shutil

import pytest
import torch
from celery.exceptions import SoftTimeLimitExceeded
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEvent
from generation import broker, health, queue, render, runner, signals, tasks
from generation.health import Fault, render_fault
from generation.models import RenderJob, Worker
from generation.queue import MAX_ATTEMPTS
from generation.quota import grant_usage
from tests.conftest import with_totp
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("generation_staff:queue")


@pytest.fixture
def announced(monkeypatch):
    """The jobs announced to the broker, in order (the broker itself is exercised by the e2e tests)."""
    sent = []
    monkeypatch.setattr(broker, "job_announce", lambda job_id, queue: sent.append(str(job_id)))
    monkeypatch.setattr(health, "PASS_ON_PAUSE_SECONDS", 0)
    return sent


@pytest.fixture
def stop_requests(monkeypatch):
    """The workers asked (by Celery's remote control) to stop consuming."""
    asked = []
    monkeypatch.setattr(health, "worker_stop_consuming", lambda *, hostname: asked.append(hostname))
    return asked


@pytest.fixture
def crashing_pipeline(monkeypatch):
    """The pipeline raises what the test puts in ``errors`` (a CUDA fault by default)."""
    errors = [RuntimeError("CUDA error: an illegal memory access was encountered")]

    def explode(*args, **kwargs):
        raise errors[0]

    monkeypatch.setattr(runner, "render", explode)
    return errors


def _worker(hostname="gpu0@host", **fields) -> Worker:
    now = timezone.now()
    return Worker.objects.create(hostname=hostname, started_at=now, last_seen=now, queues="render.ltx-video", **fields)


# --- Whose fault -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (runner.ModelUnavailable("Could not load LTX-Video from /models/ltx: no such folder"), Fault.BROKEN),
        (RuntimeError("CUDA error: an illegal memory access was encountered"), Fault.WORKER),
        (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), Fault.WORKER),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), Fault.WORKER),
        (MemoryError(), Fault.WORKER),
        (ValueError("`height` and `width` have to be divisible by 32"), Fault.JOB),
        (TypeError("unexpected keyword argument"), Fault.JOB),
        (NotImplementedError("this mode is not supported"), Fault.JOB),
        (SoftTimeLimitExceeded(), Fault.JOB),
        (OSError("the source clip is unreadable"), Fault.JOB),
    ],
)
def test_the_policy_tells_the_workers_faults_from_the_jobs(error, fault):
    assert render_fault(error) is fault


# --- The run of failures ---------------------------------------------------------------------------------


def test_a_worker_that_fails_three_renders_in_a_row_becomes_unhealthy_and_gives_each_job_back(
    tester, settings, crashing_pipeline, announced, stop_requests, caplog
):
    settings.BACKLOT_WORKER_FAILURE_LIMIT = 3
    _worker()
    jobs = [RenderJobFactory(owner=tester, charged_seconds=10) for _ in range(3)]

    for number, job in enumerate(jobs, start=1):
        with caplog.at_level(logging.ERROR, logger="generation.health"):
            render.job_render(job_id=job.pk, worker="gpu0@host")
        worker = Worker.objects.get(hostname="gpu0@host")
        assert worker.failures_in_row == number
        assert worker.is_healthy == (number < 3)

    for job in jobs:
        job.refresh_from_db()
        assert (job.state, job.worker, job.charged_seconds, job.error) == ("queued", "", 10, "")
        assert job.finished_at is None and not job.output
    assert len(announced) == 3, "each failed job is announced again for another worker"
    assert worker.health_reason.startswith("3 renders in a row failed on this worker; the last: The render failed: ")
    assert "illegal memory access" in worker.health_reason
    assert stop_requests == ["gpu0@host"]
    alerts = [record for record in caplog.records if record.getMessage().startswith("generation.worker_unhealthy")]
    assert len(alerts) == 1 and alerts[0].levelno == logging.ERROR
    event = AuditEvent.objects.get(action="generation.worker_unhealthy")
    assert (event.target, event.reason) == ("gpu0@host", worker.health_reason)
    assert grant_usage(jobs[0].grant)["seconds_total"] == 30, "the reservations are kept, nothing charged"


def test_a_broken_worker_that_takes_one_job_again_and_again_does_not_use_up_its_attempts(
    tester, settings, crashing_pipeline, announced, stop_requests
):
    """The fair queue hands the job it just gave back to the same (idle) worker: the failure that makes the
    worker unhealthy is the worker's to own, so the job can still be rendered by a healthy worker."""
    settings.BACKLOT_WORKER_FAILURE_LIMIT = 3
    job = RenderJobFactory(owner=tester)

    for _ in range(3):
        render.job_render(job_id=job.pk, worker="broken@host")

    job.refresh_from_db()
    assert (job.state, job.attempts, job.given_back) == ("queued", 2, 1)
    assert not Worker.objects.get(hostname="broken@host").is_healthy
    assert queue.job_claim(job_id=job.pk, worker="healthy@host") is not None, "a healthy worker takes it"


def test_a_job_that_fails_on_every_healthy_worker_fails_after_its_attempts(
    tester, crashing_pipeline, announced, stop_requests
):
    """A poisonous job (its own inputs crash the pipeline) on a fleet of healthy workers: each failure counts
    against it; after MAX_ATTEMPTS it fails, refunded, and the workers stay healthy."""
    job = RenderJobFactory(owner=tester, charged_seconds=10)

    for number in range(1, MAX_ATTEMPTS + 1):
        render.job_render(job_id=job.pk, worker=f"gpu{number}@host")

    job.refresh_from_db()
    assert (job.state, job.attempts, job.charged_seconds) == ("failed", MAX_ATTEMPTS, 0)
    assert job.error.startswith(
        "The render failed 3 times for faults its workers took as their own, and it will not be tried again. "
        "The last: The render failed: RuntimeError: CUDA error"
    )
    assert job.error.endswith("Its GPU time was refunded.")
    assert not Worker.objects.filter(unhealthy_since__isnull=False).exists() and stop_requests == []
    assert len(announced) == MAX_ATTEMPTS - 1


def test_a_finished_render_ends_the_run(tester, settings, crashing_pipeline, announced):
    settings.BACKLOT_WORKER_FAILURE_LIMIT = 2
    render.job_render(job_id=RenderJobFactory(owner=tester).pk, worker="w")
    assert Worker.objects.get(hostname="w").failures_in_row == 1

    health.worker_rendered(hostname="w")
    render.job_render(job_id=RenderJobFactory(owner=tester).pk, worker="w")

    worker = Worker.objects.get(hostname="w")
    assert (worker.failures_in_row, worker.is_healthy) == (1, True)


def test_a_jobs_own_fault_fails_the_job_refunded_and_does_not_count(tester, crashing_pipeline, announced):
    crashing_pipeline[0] = ValueError("`height` and `width` have to be divisible by 32")
    job = RenderJobFactory(owner=tester, charged_seconds=10)

    render.job_render(job_id=job.pk, worker="w")

    job.refresh_from_db()
    assert (job.state, job.charged_seconds) == ("failed", 0)
    assert job.error == "The render failed: ValueError: `height` and `width` have to be divisible by 32"
    assert not Worker.objects.filter(hostname="w", failures_in_row__gt=0).exists()
    assert announced == []


def test_a_model_that_cannot_load_makes_the_worker_unhealthy_at_once(tester, settings, tmp_path, announced):
    runner._pipelines.clear()
    settings.BACKLOT_MODEL_SOURCES = {"ltx-video": str(tmp_path / "missing")}
    job = RenderJobFactory(owner=tester)
    try:
        render.job_render(job_id=job.pk, worker="w")
    finally:
        runner._pipelines.clear()

    worker = Worker.objects.get(hostname="w")
    job.refresh_from_db()
    assert not worker.is_healthy and worker.health_reason.startswith("Could not load LTX-Video from ")
    assert (job.state, job.attempts, job.given_back) == ("queued", 0, 1), "the worker owns the failure"
    assert announced == [str(job.pk)]


def test_corrupt_weights_are_a_model_that_cannot_load(smoke_model, settings, tmp_path):
    folder = tmp_path / "ltx-video"
    shutil.copytree(smoke_model.smoke_folder, folder)
    weights = next((folder / "transformer").glob("*.safetensors"))
    weights.write_bytes(b"\x00\x01 not safetensors " * 64)
    settings.BACKLOT_MODEL_SOURCES = {"ltx-video": str(folder)}
    runner._pipelines.clear()
    try:
        with pytest.raises(runner.ModelUnavailable, match="Could not load LTX-Video from "):
            runner.pipeline_get(smoke_model)
    finally:
        runner._pipelines.clear()


def test_a_model_that_cannot_load_as_the_worker_starts_marks_it_unhealthy(settings, tmp_path, monkeypatch):
    """What a pool process does as it starts (BACKLOT_PRELOAD_MODELS), before it takes any job."""
    settings.BACKLOT_PRELOAD_MODELS = ["ltx-video"]
    settings.BACKLOT_MODEL_SOURCES = {"ltx-video": str(tmp_path / "missing")}
    # A new pool process drops the connections it inherited; this test's own must stay.
    monkeypatch.setattr(tasks, "_forget_inherited_connections", lambda: None)
    runner._pipelines.clear()
    try:
        tasks.load_models_at_start(sender="gpu1@host")
    finally:
        runner._pipelines.clear()

    worker = Worker.objects.get(hostname="gpu1@host")
    assert not worker.is_healthy and str(tmp_path / "missing") in worker.health_reason


# --- An unhealthy worker claims nothing ------------------------------------------------------------------


def test_an_unhealthy_worker_claims_nothing_and_passes_the_message_on(tester, announced, stop_requests):
    _worker(unhealthy_since=timezone.now(), health_reason="Could not load LTX-Video")
    job = RenderJobFactory(owner=tester)

    assert render.job_render(job_id=job.pk, worker="gpu0@host", task_id="m1") is None

    job.refresh_from_db()
    assert (job.state, job.attempts, job.worker) == ("queued", 0, "")
    assert announced == [str(job.pk)]
    assert stop_requests == ["gpu0@host"], "it asks again to stop consuming"


def test_a_redelivered_message_of_an_unhealthy_worker_gives_its_job_back(tester, announced, stop_requests):
    _worker(unhealthy_since=timezone.now(), health_reason="3 jobs in a row failed")
    job = RenderJobFactory(owner=tester)
    RenderJob.objects.filter(pk=job.pk).update(state="running", attempts=1, worker="gpu0@host", task_id="m1")

    render.job_render(job_id=job.pk, worker="gpu0@host", task_id="m1")

    job.refresh_from_db()
    assert (job.state, job.attempts, job.worker) == ("queued", 1, "")
    assert announced == [str(job.pk)]


# --- The bound on give-backs ----------------------------------------------------------------------------


def test_a_job_given_back_by_three_unhealthy_workers_fails_with_the_reason_and_is_refunded(
    tester, crashing_pipeline, announced, stop_requests
):
    crashing_pipeline[0] = runner.ModelUnavailable("Could not load LTX-Video from /models/ltx: no such folder")
    job = RenderJobFactory(owner=tester, charged_seconds=10)

    for number in range(1, MAX_ATTEMPTS + 1):
        render.job_render(job_id=job.pk, worker=f"gpu{number}@host")

    job.refresh_from_db()
    assert (job.state, job.given_back, job.charged_seconds) == ("failed", MAX_ATTEMPTS, 0)
    assert job.error == (
        "3 workers turned unhealthy over this job and gave it back, and it will not be tried again. "
        "The last: Could not load LTX-Video from /models/ltx: no such folder. Its GPU time was refunded."
    )
    assert announced == [str(job.pk)] * (MAX_ATTEMPTS - 1), "announced again twice, not a third time"
    assert Worker.objects.filter(unhealthy_since__isnull=False).count() == MAX_ATTEMPTS
    assert grant_usage(job.grant)["seconds_total"] == 0
    assert render.job_render(job_id=job.pk, worker="gpu9@host") is None, "nobody takes it again"


# --- The worker's consumers follow its row ------------------------------------------------------------


class Consumer:
    """What the heartbeat uses of Celery's consumer: call_soon, and the two queue changes it schedules."""

    def __init__(self):
        self.scheduled = []

    def call_soon(self, function, *args):
        self.scheduled.append((function.__name__, *args))

    def cancel_task_queue(self, queue):
        pass

    def add_task_queue(self, queue):
        pass


def test_an_unhealthy_worker_stops_consuming_its_model_queues_and_a_reset_starts_them_again(admin_user):
    worker = _worker(unhealthy_since=timezone.now(), health_reason="Could not load LTX-Video")
    identity = {"hostname": "gpu0@host", "queues": ["films", "render.ltx-video", "render.wan2.1-1.3b"]}
    consumer = Consumer()
    signals._queues_stopped.clear()
    try:
        signals._consume_as_health_says(consumer, identity)
        signals._consume_as_health_says(consumer, identity)
        assert consumer.scheduled == [
            ("cancel_task_queue", "render.ltx-video"),
            ("cancel_task_queue", "render.wan2.1-1.3b"),
        ], "its model queues once, not the films queue"

        health.worker_health_reset(worker=worker, actor=admin_user)
        signals._consume_as_health_says(consumer, identity)
        assert consumer.scheduled[2:] == [
            ("add_task_queue", "render.ltx-video"),
            ("add_task_queue", "render.wan2.1-1.3b"),
        ]
    finally:
        signals._queues_stopped.clear()


# --- The staff page and the command ---------------------------------------------------------------------


def test_the_staff_queue_shows_each_workers_health_and_reason(admin_client):
    _worker("gpu0@host", unhealthy_since=timezone.now(), health_reason="Could not load LTX-Video from /models/ltx")
    _worker("gpu1@host")

    page = admin_client.get(QUEUE).content.decode()

    broken = page[page.index('id="worker-') : page.index("gpu1@host")]
    assert "gpu0@host" in broken and 'data-health="unhealthy"' in broken
    assert "Could not load LTX-Video from /models/ltx" in broken and ">Reset</button>" in broken
    healthy = page[page.index("gpu1@host") :]
    assert 'data-health="healthy"' in healthy.split("</tr>")[0]


def test_staff_reset_an_unhealthy_worker_and_it_is_audited(admin_client, admin_user):
    worker = _worker(unhealthy_since=timezone.now(), health_reason="Could not load", failures_in_row=3)
    url = reverse("generation_staff:worker_health_reset", args=[worker.pk])

    response = admin_client.post(url, follow=True)

    worker.refresh_from_db()
    assert (worker.is_healthy, worker.health_reason, worker.failures_in_row) == (True, "", 0)
    assert "marked healthy again" in response.content.decode()
    event = AuditEvent.objects.get(action="generation.worker_health_reset")
    assert (event.actor, event.target, event.reason) == (admin_user, "gpu0@host", "Could not load")
    again = admin_client.post(url, follow=True)
    assert "was not unhealthy; nothing was changed" in again.content.decode()
    assert AuditEvent.objects.filter(action="generation.worker_health_reset").count() == 1


def test_only_the_operators_staff_may_reset_a_worker(tester, reviewer, admin_user):
    worker = _worker(unhealthy_since=timezone.now(), health_reason="Could not load")
    url = reverse("generation_staff:worker_health_reset", args=[worker.pk])

    assert Client().post(url)["Location"].startswith("/accounts/login/")
    for person in (tester, with_totp(reviewer)):
        client = Client()
        client.force_login(person)
        assert client.post(url).status_code == 404
    staff = Client()
    staff.force_login(admin_user)
    assert staff.get(url).status_code == 405, "a reset is a POST"
    assert staff.post(reverse("generation_staff:worker_health_reset", args=[worker.pk + 99])).status_code == 404
    worker.refresh_from_db()
    assert not worker.is_healthy
    assert not AuditEvent.objects.filter(action="generation.worker_health_reset").exists()


def test_the_command_lists_and_resets_workers(capsys):
    _worker("gpu0@host", unhealthy_since=timezone.now(), health_reason="Could not load LTX-Video")
    _worker("gpu1@host", failures_in_row=1)

    call_command("worker_health")
    listed = capsys.readouterr().out
    assert "gpu0@host\tUNHEALTHY since " in listed and "Could not load LTX-Video" in listed
    assert "gpu1@host\thealthy\t1 failed in a row" in listed

    with pytest.raises(CommandError, match="No worker is called 'gpu7@host' \\(known: gpu0@host, gpu1@host\\)"):
        call_command("worker_health", "--reset", "gpu7@host")
    assert not Worker.objects.get(hostname="gpu0@host").is_healthy

    call_command("worker_health", "--reset", "gpu0@host")
    assert "gpu0@host: healthy again" in capsys.readouterr().out
    assert Worker.objects.get(hostname="gpu0@host").is_healthy
    assert AuditEvent.objects.filter(action="generation.worker_health_reset", actor=None).count() == 1

    call_command("worker_health", "--reset-all")
    assert "No worker is unhealthy." in capsys.readouterr().out
