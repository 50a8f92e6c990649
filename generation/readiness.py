"""Readiness of the render fleet, for /readyz (config/health.py): every model that an active programme offers
and that has jobs waiting must have at least one worker that is healthy and has shown a sign of life within
three heartbeats (generation/workers.py). Two small queries: the waiting count per model (the (model_key,
state) index, waiting rows only) and the workers' rows (one per worker process)."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from access.models import Programme, Suspension
from core.readiness import Check
from generation import workers
from generation.models import RenderJob, Worker
from generation.registry import MODELS


def models_offered() -> set[str]:
    """The model keys some programme that is not paused offers (a programme naming none offers them all)."""
    paused = Suspension.objects.active().filter(scope=Suspension.Scope.PROGRAMME).values("programme")
    offered: set[str] = set()
    for keys in Programme.objects.exclude(pk__in=paused).values_list("model_keys", flat=True):
        offered |= set(keys or MODELS)
    return offered


def waiting_by_model() -> dict[str, int]:
    """Jobs waiting to start (queued and not held), per model."""
    waiting = RenderJob.objects.filter(state=RenderJob.State.QUEUED).order_by()
    counts = waiting.values("model_key").annotate(count=Count("pk", filter=Q(held=False)))
    return {row["model_key"]: row["count"] for row in counts if row["count"]}


def live_workers_by_model(*, now=None) -> dict[str, list[str]]:
    """The workers able to take each model's jobs now: healthy, not stopped, heard from recently."""
    now = now or timezone.now()
    live: dict[str, list[str]] = {}
    for worker in Worker.objects.select_related("current_job"):
        if worker.is_healthy and workers.worker_status(worker, now=now) in (Worker.State.IDLE, Worker.State.BUSY):
            for key in worker.model_keys:
                live.setdefault(key, []).append(worker.hostname)
    return live


def workers_check() -> Check:
    waiting = waiting_by_model()
    offered = models_offered()
    live = live_workers_by_model()
    stranded = {key: count for key, count in waiting.items() if key in offered and not live.get(key)}
    models = {
        key: {"waiting": waiting.get(key, 0), "live_workers": len(live.get(key, []))}
        for key in sorted(offered | set(waiting))
    }
    if stranded:
        detail = "; ".join(
            f"{key}: {count} job{'s' if count != 1 else ''} waiting and no live worker "
            f"(healthy, heard from within {int(workers.offline_after().total_seconds())} s) on render.{key}"
            for key, count in sorted(stranded.items())
        )
        return Check("workers", False, detail, extra={"models": models})
    return Check("workers", True, "every model with waiting jobs has a live worker", extra={"models": models})
