"""Estimates shown while a job waits or runs: its place in the queue, when it should start, and when it
should be done."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from generation.models import RenderJob
from generation.queue import fair_positions
from generation.registry import MODELS


def queue_position(job: RenderJob) -> int | None:
    """1 for the next job to start, or None when the job is not waiting (or is held)."""
    if job.state != RenderJob.State.QUEUED or job.held:
        return None
    order = fair_positions([job.model_key])[job.model_key]
    return order.get(job.pk, len(order) + 1)


def estimated_start(job: RenderJob, position: int | None):
    """When a waiting job should start: the jobs ahead of it, and the one running, at the recent
    average duration of this model's renders."""
    if position is None:
        return None
    average = _recent_average_seconds(job.model_key)
    return timezone.now() + timedelta(seconds=(average or job.charged_seconds) * position)


RECENT_AVERAGES_CACHED_SECONDS = 30


def _recent_average_seconds(model_key: str) -> float | None:
    """How long this model's last 20 successful renders took on average, or None without any.
    Every list and progress poll asks, so every model's answer is worked out together and kept
    for half a minute."""
    averages = cache.get("generation.recent-averages")
    if averages is None or model_key not in averages:
        averages = {key: _average_of_last_renders(key) for key in {*MODELS, model_key}}
        cache.set("generation.recent-averages", averages, RECENT_AVERAGES_CACHED_SECONDS)
    return averages[model_key]


def _average_of_last_renders(model_key: str, count: int = 20) -> float | None:
    recent = RenderJob.objects.filter(
        model_key=model_key, state=RenderJob.State.SUCCEEDED, finished_at__isnull=False, started_at__isnull=False
    ).order_by("-finished_at")
    durations = [
        (finished - started).total_seconds()
        for started, finished in recent.values_list("started_at", "finished_at")[:count]
    ]
    return sum(durations) / len(durations) if durations else None


def queue_estimates(jobs) -> dict:
    """{job id: (queue position, expected start)} for the waiting jobs among ``jobs``: one query
    for every model's order, and each model's (cached) recent average, none per job."""
    waiting = [job for job in jobs if job.state == RenderJob.State.QUEUED and not job.held]
    if not waiting:
        return {}
    orders = fair_positions({job.model_key for job in waiting})
    averages = {key: _recent_average_seconds(key) for key in orders}
    now = timezone.now()
    estimates = {}
    for job in waiting:
        order = orders[job.model_key]
        position = order.get(job.pk, len(order) + 1)
        seconds = (averages[job.model_key] or job.charged_seconds) * position
        estimates[job.pk] = (position, now + timedelta(seconds=seconds))
    return estimates


def estimated_finish(job: RenderJob):
    """When a running job should be done: its remaining steps at the pace of the steps so far."""
    if job.state != RenderJob.State.RUNNING or not job.started_at or not job.progress_step or not job.progress_total:
        return None
    elapsed = (timezone.now() - job.started_at).total_seconds()
    remaining_steps = max(0, job.progress_total - job.progress_step)
    return timezone.now() + timedelta(seconds=elapsed / job.progress_step * remaining_steps)
