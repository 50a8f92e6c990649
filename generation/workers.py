"""What each Celery worker is doing, written by the workers themselves (generation/signals.py) at a
few moments only: start, each job taken, each job done, a heartbeat every WORKER_HEARTBEAT_SECONDS
and a clean stop. While a worker renders, its job's per-step heartbeat is its sign of life too, so
a long render on a busy event loop does not make it look offline."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from generation.models import RenderJob, Worker

log = logging.getLogger(__name__)


def worker_started(*, hostname: str, queues: list[str], device: str, pid: int | None = None) -> Worker:
    now = timezone.now()
    worker, _ = Worker.objects.update_or_create(
        hostname=hostname[:255],
        defaults={
            "queues": ",".join(queues)[:255],
            "device": device[:64],
            "pid": pid or os.getpid(),
            "state": Worker.State.IDLE,
            "current_job": None,
            "started_at": now,
            "last_seen": now,
        },
    )
    log.info("generation.worker_started worker=%s queues=%s", hostname, worker.queues)
    return worker


def worker_seen(*, hostname: str, queues: list[str], device: str, pid: int | None = None) -> None:
    """The periodic heartbeat. A worker whose row went missing (removed by hand) registers again."""
    if not Worker.objects.filter(hostname=hostname).update(last_seen=timezone.now()):
        worker_started(hostname=hostname, queues=queues, device=device, pid=pid)


def worker_busy(*, hostname: str) -> None:
    Worker.objects.filter(hostname=hostname).update(state=Worker.State.BUSY, last_seen=timezone.now())


def worker_took_job(*, hostname: str, job_id) -> None:
    Worker.objects.filter(hostname=hostname).update(
        state=Worker.State.BUSY, current_job_id=job_id, last_seen=timezone.now()
    )


def worker_idle(*, hostname: str, device: str = "") -> None:
    """A task has ended: a job it had taken counts as done, whatever its outcome."""
    workers = Worker.objects.filter(hostname=hostname)
    workers.filter(current_job__isnull=False).update(jobs_done=F("jobs_done") + 1)
    changes = {"state": Worker.State.IDLE, "current_job": None, "last_seen": timezone.now()}
    workers.update(**changes, **({"device": device[:64]} if device else {}))


def worker_stopped(*, hostname: str) -> None:
    Worker.objects.filter(hostname=hostname).update(
        state=Worker.State.STOPPED, current_job=None, last_seen=timezone.now()
    )
    log.info("generation.worker_stopped worker=%s", hostname)


def offline_after() -> timedelta:
    """Three missed heartbeats."""
    return timedelta(seconds=3 * settings.BACKLOT_WORKER_HEARTBEAT_SECONDS)


def worker_last_sign(worker: Worker) -> datetime:
    """The later of the worker's own heartbeat and its current job's last step."""
    job: RenderJob | None = worker.current_job
    if job is not None and job.heartbeat_at and job.heartbeat_at > worker.last_seen:
        return job.heartbeat_at
    return worker.last_seen


def worker_status(worker: Worker, *, now=None) -> str:
    """idle, busy, stopped (shut down cleanly) or offline (no sign of life for too long)."""
    if worker.state == Worker.State.STOPPED:
        return "stopped"
    if (now or timezone.now()) - worker_last_sign(worker) > offline_after():
        return "offline"
    return worker.state


def workers_all():
    return Worker.objects.select_related("current_job", "current_job__owner").order_by("hostname")
