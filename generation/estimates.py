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


POSITIONS_CACHED_SECONDS = 2
POSITIONS_COUNTED = 1000  # as fair_positions: a job further back is shown one place behind the last counted


def queue_position_cached(job: RenderJob) -> int | None:
    """queue_position, from the model's order as fair_orders keeps it: what the progress poll shows, asked by
    every waiting job's page every second."""
    if job.state != RenderJob.State.QUEUED or job.held:
        return None
    order = fair_orders([job.model_key])[job.model_key]
    return order.get(job.pk.hex, len(order) + 1)


def _fair_order_key(model_key: str) -> str:
    return f"generation.fair-positions:{model_key}"


def fair_orders_forget(model_keys=MODELS) -> None:
    """Drop the kept orders, so the next request works them out again (tests that count a page's queries)."""
    cache.delete_many([_fair_order_key(model_key) for model_key in model_keys])


def fair_orders(model_keys) -> dict[str, dict[str, int]]:
    """{model key: {job id (hex): place}} for each model's first POSITIONS_COUNTED waiting jobs, worked out at most
    once every POSITIONS_CACHED_SECONDS and shared (through the cache) by every poll and list that shows places:
    ranking a model's waiting jobs costs 15-20 ms of SQL at depth, and a place a second or two old is what the
    poll shows anyway. One cache read for all the models, and one query for those not cached."""
    keys = {model_key: _fair_order_key(model_key) for model_key in model_keys}
    cached = cache.get_many(keys.values())
    orders = {model_key: cached[key] for model_key, key in keys.items() if key in cached}
    missing = [model_key for model_key in keys if model_key not in orders]
    if missing:
        for model_key, order in fair_positions(missing, first=POSITIONS_COUNTED).items():
            orders[model_key] = {pk.hex: place for pk, place in order.items()}
        cache.set_many({keys[model_key]: orders[model_key] for model_key in missing}, POSITIONS_CACHED_SECONDS)
    return orders


def estimated_start(job: RenderJob, position: int | None):
    """When a waiting job should start: the jobs ahead of it, and the one running, at the recent
    average duration of this model's renders."""
    if position is None:
        return None
    average = _recent_average_seconds(job.model_key)
    return timezone.now() + timedelta(seconds=(average or job.charged_seconds) * position)


RECENT_AVERAGES_CACHED_SECONDS = 30


def _recent_average_seconds(model_key: str) -> float | None:
    """How long this model's last 20 successful renders took on average, or None without any."""
    return _recent_averages({model_key})[model_key][0]


def _recent_averages(model_keys) -> dict[str, tuple[float | None, float | None]]:
    """{model key: (how long its last 20 successful renders took on average, and the work after their denoising
    steps: decoding, marking, encoding, signing, storing)}, each None without any."""
    # Every list and progress poll asks, so every model's answer is worked out together and kept for half a minute.
    averages = cache.get("generation.recent-averages")
    if averages is None or not set(model_keys) <= averages.keys():
        averages = {key: _averages_of_last_renders(key) for key in {*MODELS, *model_keys}}
        cache.set("generation.recent-averages", averages, RECENT_AVERAGES_CACHED_SECONDS)
    return averages


def _averages_of_last_renders(model_key: str, count: int = 20) -> tuple[float | None, float | None]:
    recent = RenderJob.objects.filter(
        model_key=model_key, state=RenderJob.State.SUCCEEDED, finished_at__isnull=False, started_at__isnull=False
    ).order_by("-finished_at")
    rows = list(recent.values_list("started_at", "denoised_at", "finished_at")[:count])
    durations = [(finished - started).total_seconds() for started, _, finished in rows]
    tails = [(finished - denoised).total_seconds() for _, denoised, finished in rows if denoised]
    return (_mean(durations), _mean(tails))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def queue_estimates(jobs) -> dict:
    """{job id: (queue position, expected start)} for the waiting jobs among ``jobs``: places from fair_orders
    (a cache read, and a query at most once every POSITIONS_CACHED_SECONDS), and each model's (cached) recent
    average, none per job. A job further back than POSITIONS_COUNTED, or queued since the order was worked out,
    is shown one place behind the last counted."""
    waiting = [job for job in jobs if job.state == RenderJob.State.QUEUED and not job.held]
    if not waiting:
        return {}
    orders = fair_orders({job.model_key for job in waiting})
    averages = _recent_averages(orders)
    now = timezone.now()
    estimates = {}
    for job in waiting:
        order = orders[job.model_key]
        position = order.get(job.pk.hex, len(order) + 1)
        seconds = (averages[job.model_key][0] or job.charged_seconds) * position
        estimates[job.pk] = (position, now + timedelta(seconds=seconds))
    return estimates


def estimated_finish(job: RenderJob):
    """When a running job should be done: its remaining steps at the pace of the steps so far, then the work
    after them (decoding, marking, encoding, signing, storing) as long as it took in the model's recent renders.
    None before the first step, and once that work has run over its usual time."""
    return estimated_finishes([job]).get(job.pk)


def estimated_finishes(jobs) -> dict:
    """{job id: estimated_finish(job)} for the running jobs among ``jobs`` that have stepped, with the models' recent
    renders read from the cache once for all of them (the staff queue with 100 running jobs: one read, not 100
    round trips to Redis, 15 ms)."""
    stepping = [
        job
        for job in jobs
        if job.state == RenderJob.State.RUNNING and job.started_at and job.progress_step and job.progress_total
    ]
    if not stepping:
        return {}
    averages = _recent_averages({job.model_key for job in stepping})
    return {job.pk: _finish(job, tail_seconds=averages[job.model_key][1]) for job in stepping}


def _finish(job: RenderJob, *, tail_seconds: float | None):
    now, tail = timezone.now(), timedelta(seconds=tail_seconds or 0)
    if job.denoised_at:
        finish = job.denoised_at + tail
        return finish if finish > now else None
    elapsed = (now - job.started_at).total_seconds()
    remaining_steps = max(0, job.progress_total - job.progress_step)
    return now + timedelta(seconds=elapsed / job.progress_step * remaining_steps) + tail


def progress_percent(job: RenderJob, finish=None) -> int:
    """How far a job has come, as the share of its expected time gone by (so the bar does not sit at 100 %
    while the clip is encoded); by its steps when there is no expected finish yet. 100 only once it is done."""
    if job.is_finished:
        return 100 if job.state == RenderJob.State.SUCCEEDED else job.progress_percent
    if job.state != RenderJob.State.RUNNING:
        return 0
    if finish is None or not job.started_at:
        return min(job.progress_percent, 99) if not job.denoised_at else 99
    elapsed = (timezone.now() - job.started_at).total_seconds()
    expected = (finish - job.started_at).total_seconds()
    return max(1, min(99, round(100 * elapsed / expected))) if expected > 0 else 99


def progress_fields(job: RenderJob, *, finish, position: int | None, start) -> dict:
    """The API's estimate fields for a job, as its serializer and the lean progress poll both give them:
    ``finish`` from estimated_finish, ``position`` and ``start`` from a queue position and estimated_start."""
    running = job.state == RenderJob.State.RUNNING and job.started_at
    return {
        "progress_percent": progress_percent(job, finish),
        "queue_position": position,
        "estimated_start_at": start.isoformat() if start else None,
        "elapsed_seconds": round((timezone.now() - job.started_at).total_seconds(), 1) if running else None,
        "estimated_finish_at": finish.isoformat() if finish else None,
    }
