"""The sweeper (beat, every 30 s): no job is left running by a worker that vanished, and no waiting job
is forgotten by a broker that lost its messages."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from generation.models import RenderJob, Worker
from generation.queue import job_announce, jobs_fail_spent
from generation.registry import MODELS
from generation.workers import offline_after

log = logging.getLogger(__name__)


def jobs_requeue_stale() -> int:
    """Running jobs go back to the queue (their next claim counts as another attempt), or fail with a reason,
    refunded, once they have had MAX_ATTEMPTS; so no job is left running forever. A job is taken back when
    its worker is gone: stopped, or silent for three of its heartbeats (generation.workers.offline_after; the
    heartbeat comes from the worker's main process, so a long render on a live worker keeps its job), or when
    the job itself has shown no sign of life for BACKLOT_STALE_SECONDS. Returns how many it resolved."""
    now = timezone.now()
    stale = Q(heartbeat_at__lt=now - timedelta(seconds=settings.BACKLOT_STALE_SECONDS))
    alive = Worker.objects.exclude(state=Worker.State.STOPPED).filter(last_seen__gte=now - offline_after())
    gone = ~Q(worker__in=alive.values("hostname")) & Q(heartbeat_at__lt=now - offline_after())
    return _requeue(Q(state=RenderJob.State.RUNNING) & (stale | gone), reason="worker gone or silent")


def jobs_requeue_of_worker(hostname: str) -> int:
    """A worker that starts has nothing running: any job still marked running under its name was cut off
    by its last stop (a crash, a kill, one Ctrl-C too many) and goes back to the queue at once."""
    return _requeue(Q(state=RenderJob.State.RUNNING, worker=hostname[:255]), reason=f"{hostname} restarted")


def _requeue(running: Q, *, reason: str) -> int:
    resolved = jobs_fail_spent(RenderJob.objects.filter(running))
    # One job at a time, each its own statement: a requeue holds one job and its usage hour at once.
    for job_id, model_key in list(RenderJob.objects.filter(running).order_by("pk").values_list("pk", "model_key")):
        if RenderJob.objects.filter(running, pk=job_id).update(state=RenderJob.State.QUEUED, worker=""):
            resolved += 1
            job_announce(job_id, model_key)
            log.warning("generation.job_requeued job=%s reason=%s", job_id, reason)
    return resolved


def jobs_reannounce_waiting() -> int:
    """Waiting jobs whose message the broker no longer holds (a Redis restarted without persistence
    loses every message) are announced again. Per model, the jobs that have waited longer than
    BACKLOT_REANNOUNCE_SECONDS without a claim, less the messages still waiting in the model's queue,
    get a new message each; a message too many only finds nothing to claim. Returns how many."""
    from generation.broker import messages_waiting

    waited_before = timezone.now() - timedelta(seconds=settings.BACKLOT_REANNOUNCE_SECONDS)
    waiting = RenderJob.objects.filter(state=RenderJob.State.QUEUED, held=False)
    announced = 0
    overdue_models = waiting.filter(queued_at__lt=waited_before).order_by().values_list("model_key", flat=True)
    for model_key in sorted(set(overdue_models)):
        spec = MODELS.get(model_key)
        in_broker = messages_waiting(spec.queue) if spec else None
        if in_broker is None:
            continue
        of_model = waiting.filter(model_key=model_key)
        overdue = of_model.filter(queued_at__lt=waited_before).order_by("queued_at", "pk")
        missing = min(overdue.count(), of_model.count() - in_broker)
        for job_id in overdue.values_list("pk", flat=True)[: max(0, missing)]:
            job_announce(job_id, model_key)
            announced += 1
        if missing > 0:
            log.warning("generation.jobs_reannounced model=%s count=%d", model_key, missing)
    return announced
