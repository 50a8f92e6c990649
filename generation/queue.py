"""The queue: how a waiting job is announced to the workers of its model, in which order the waiting jobs
run (fair share), and how a worker claims one. A job is claimed by a conditional UPDATE of its row; the
broker's message only says "a job of this model is waiting"."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from generation import broker
from generation.models import RenderJob, Worker
from generation.quota import charge_refund
from generation.registry import MODELS, model_get
from generation.usage import recent_seconds, usage_lock_jobs, usage_window_start
from generation.workers import worker_took_job

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
SPENT_REASON = f"The render stopped its worker {MAX_ATTEMPTS} times and will not be tried again."


def job_announce(job_id, model_key: str) -> None:
    """Queue a message for the workers of ``model_key``: one job of that model is waiting."""
    broker.job_announce(job_id, queue=model_get(model_key).queue)


def job_claim(*, job_id, worker: str, task_id: str = "") -> RenderJob | None:
    """Take this job for this worker. Returns None when there is nothing to run: the job is gone,
    finished or cancelled. A job found 'running' was left by a worker that died; it is run again
    until it has cost MAX_ATTEMPTS workers, then failed for good."""
    claimable = Q(state=RenderJob.State.QUEUED, held=False) | Q(state=RenderJob.State.RUNNING)
    job = _claim(job_id=job_id, claimable=claimable, worker=worker, task_id=task_id)
    if job is None:
        jobs_fail_spent(RenderJob.objects.filter(pk=job_id))
        return None
    worker_took_job(hostname=worker, job_id=job_id)
    return job


def _claim(*, job_id, claimable: Q, worker: str, task_id: str) -> RenderJob | None:
    """The conditional UPDATE that takes a job, and the job as this claim left it: read in the same
    transaction, under the row lock the UPDATE took, so that the attempt a worker renders is the one it set
    (another claim right after it cannot hand both workers the same attempt)."""
    now = timezone.now()
    with transaction.atomic():
        changed = RenderJob.objects.filter(claimable, pk=job_id, attempts__lt=MAX_ATTEMPTS).update(
            state=RenderJob.State.RUNNING,
            attempts=F("attempts") + 1,
            worker=worker[:255],
            task_id=task_id[:64],
            started_at=now,
            heartbeat_at=now,
            progress_step=0,
            stage=RenderJob.Stage.DENOISING,
            denoised_at=None,
        )
        if changed != 1:
            return None
        return RenderJob.objects.select_related("owner", "grant__programme").get(pk=job_id)


CLAIM_TRIES = 20


def job_claim_next(*, hint_id, worker: str, task_id: str = "") -> RenderJob | None:
    """What a worker renders for one message. A message is queued for each submitted job, but
    waiting jobs are taken in fair-share order, so a message really means "one job of this model is
    waiting". A message delivered again after its worker died takes back the job it had claimed.

    Many workers claim at once: each locks the first waiting job in fair order that no other claim has
    locked (FOR UPDATE SKIP LOCKED, on PostgreSQL) and takes it only while it is still waiting, so two
    workers never queue up behind one row, and a job another worker has just started is never taken
    from it."""
    if connection.vendor == "postgresql":
        job, sure, mine = _claim_head(hint_id=hint_id, worker=worker, task_id=task_id)
        if mine is not None:
            return job_claim(job_id=mine, worker=worker, task_id=task_id)
        if job is not None or sure:
            return job
    elif task_id:
        mine = RenderJob.objects.filter(task_id=task_id, state=RenderJob.State.RUNNING).values_list("pk", flat=True)
        for job_id in mine[:1]:
            return job_claim(job_id=job_id, worker=worker, task_id=task_id)
    model_key = RenderJob.objects.filter(pk=hint_id).values_list("model_key", flat=True).first()
    if model_key is None:
        return None
    waiting, tried = Q(state=RenderJob.State.QUEUED, held=False), []
    for _ in range(CLAIM_TRIES):
        with transaction.atomic():
            candidate = _fair_first(model_key, skip=tried)
            if candidate is None:
                return None
            job = _claim(job_id=candidate, claimable=waiting, worker=worker, task_id=task_id)
        if job is not None:
            worker_took_job(hostname=worker, job_id=job.pk)
            return job
        tried.append(candidate)  # it was used up (failed here) or no longer waiting: the next one
        jobs_fail_spent(RenderJob.objects.filter(pk=candidate))
    return None


# The fair order, declared once: staff priority first, then the person who has used the least GPU time recently,
# then first come, the job's id breaking ties. FAIR_ORDER for the ORM; fair_order_sql for the raw statements below.
FAIR_ORDER = (F("priority").desc(), F("recent_seconds").asc(), F("queued_at").asc(), F("pk").asc())


def fair_order_sql(job: str, usage: str | None = None) -> str:
    """FAIR_ORDER as SQL for the jobs aliased ``job``, their owners' recent GPU time being ``usage``; without it,
    the order of one person's own jobs (their recent GPU time is the same for all of them)."""
    return ", ".join(part for part in (f"{job}.priority DESC", usage, f"{job}.queued_at", f"{job}.id") if part)


# The claim's fast path (PostgreSQL) reads the first waiting job of each person who has one (one probe of an
# index each), orders the people by it (priority, recent GPU time, first come), and takes the first job no
# other claim holds among the first HEAD_CANDIDATES jobs of the first HEAD_CANDIDATES people. That is
# fair_queue's first free job: a person's recent GPU time is the same for all their jobs, so the order of
# one person's jobs is their own queue's (priority, first come), and while fewer than HEAD_CANDIDATES claims
# hold jobs of the model, the first free job is among those. Only when every candidate is held does it find
# nothing, and job_claim_next then takes the whole queue's path.
HEAD_CANDIDATES = 64

CLAIM_HEAD_SQL = f"""
WITH RECURSIVE mine AS (
    SELECT id FROM generation_renderjob WHERE %(task_id)s <> '' AND task_id = %(task_id)s AND state = 'running'
    LIMIT 1
), model AS (
    SELECT model_key FROM generation_renderjob WHERE id = %(hint)s
), heads AS (
    (SELECT j.owner_id, j.priority, j.queued_at, j.id FROM generation_renderjob j
     WHERE j.model_key = (SELECT model_key FROM model) AND j.state = 'queued' AND NOT j.held
       AND NOT EXISTS (SELECT FROM mine)
     ORDER BY j.owner_id, {fair_order_sql("j")} LIMIT 1)
    UNION ALL
    SELECT n.owner_id, n.priority, n.queued_at, n.id FROM heads h CROSS JOIN LATERAL (
        SELECT j.owner_id, j.priority, j.queued_at, j.id FROM generation_renderjob j
        WHERE j.model_key = (SELECT model_key FROM model) AND j.state = 'queued' AND NOT j.held
          AND j.owner_id > h.owner_id
        ORDER BY j.owner_id, {fair_order_sql("j")} LIMIT 1
    ) n
), people AS (
    SELECT h.owner_id, u.ms FROM heads h
    CROSS JOIN LATERAL (
        SELECT COALESCE(SUM(x.milliseconds), 0)::bigint AS ms FROM generation_usagehour x
        WHERE x.owner_id = h.owner_id AND x.hour >= %(since)s
    ) u
    ORDER BY {fair_order_sql("h", "u.ms")} LIMIT %(candidates)s
), candidates AS (
    SELECT c.id, c.priority, p.ms, c.queued_at FROM people p
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.queued_at FROM generation_renderjob j
        WHERE j.model_key = (SELECT model_key FROM model) AND j.state = 'queued' AND NOT j.held
          AND j.owner_id = p.owner_id
        ORDER BY {fair_order_sql("j")} LIMIT %(candidates)s
    ) c
    ORDER BY {fair_order_sql("c", "p.ms")} LIMIT %(candidates)s
), picked AS (
    SELECT j.id FROM generation_renderjob j JOIN candidates c ON c.id = j.id
    WHERE j.id = ANY (ARRAY (SELECT id FROM candidates)) AND j.state = 'queued' AND NOT j.held
    ORDER BY {fair_order_sql("c", "c.ms")} LIMIT 1
    FOR UPDATE OF j SKIP LOCKED
), taken AS (
    UPDATE generation_renderjob j SET state = 'running', attempts = j.attempts + 1, worker = %(worker)s,
        task_id = %(task_id)s, started_at = %(now)s, heartbeat_at = %(now)s, progress_step = 0,
        stage = %(stage)s, denoised_at = NULL
    FROM picked WHERE j.id = picked.id AND j.attempts < %(max_attempts)s
    RETURNING j.id
), busy AS (
    UPDATE generation_worker w SET state = %(busy)s, current_job_id = taken.id, last_seen = %(now)s
    FROM taken WHERE w.hostname = %(worker)s
)
SELECT (SELECT id FROM mine), EXISTS (SELECT FROM candidates), picked.id, taken.id
FROM (SELECT) AS one LEFT JOIN picked ON true LEFT JOIN taken ON taken.id = picked.id
"""  # noqa: S608 (what is formatted in is fair_order_sql's constant text; the values are parameters)


def _claim_head(*, hint_id, worker: str, task_id: str) -> tuple[RenderJob | None, bool, object]:
    """The claim in one statement (PostgreSQL): the first waiting job of the hint's model in fair order
    that no other claim holds, locked, taken for this worker (whose row says it is busy with it), and read
    back in the same transaction; a job found used up is failed and the next one tried. Returns the job,
    whether that answer is sure (None and False when every candidate was held by other claims), and the id
    of the job this message had already claimed if it is delivered again (then nothing else is taken)."""
    for _ in range(CLAIM_TRIES):
        now = timezone.now()
        params = {
            "hint": hint_id,
            "since": usage_window_start(now=now),
            "candidates": HEAD_CANDIDATES,
            "worker": worker[:255],
            "task_id": task_id[:64],
            "now": now,
            "stage": RenderJob.Stage.DENOISING,
            "max_attempts": MAX_ATTEMPTS,
            "busy": Worker.State.BUSY,
        }
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(CLAIM_HEAD_SQL, params)
                mine, waiting, picked, taken = cursor.fetchone()
            if mine is not None or picked is None:
                return None, not waiting, mine
            if taken is not None:
                return RenderJob.objects.select_related("owner", "grant__programme").get(pk=taken), True, None
        jobs_fail_spent(RenderJob.objects.filter(pk=picked))
    return None, False, None


def _fair_first(model_key: str, *, skip=()):
    """The id of the first job in fair_queue(model_key) that no other claim has locked, locked for this
    transaction (FOR UPDATE SKIP LOCKED where the database has it; SQLite has one writer at a time), or
    None. The order is fair_queue's own: it is written once."""
    candidates = fair_queue(model_key).exclude(pk__in=list(skip))
    return candidates.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True).first()


def jobs_fail_spent(jobs) -> int:
    """Fail (and refund) the jobs among ``jobs`` that have used up their attempts without finishing."""
    spent = jobs.filter(
        state__in=[RenderJob.State.QUEUED, RenderJob.State.RUNNING], held=False, attempts__gte=MAX_ATTEMPTS
    )
    with transaction.atomic():
        locked = usage_lock_jobs(spent)
        ending = {"state": RenderJob.State.FAILED, "finished_at": timezone.now(), "error": SPENT_REASON}
        count = charge_refund(spent.filter(pk__in=locked), **ending) if locked else 0
    if count:
        log.warning("generation.jobs_failed_spent count=%d", count)
    return count


def _waiting_jobs():
    """Jobs waiting to start (not held), each with the GPU seconds its owner used in the fair-share window
    (generation/usage.py) as ``recent_seconds``."""
    return RenderJob.objects.filter(state=RenderJob.State.QUEUED, held=False).annotate(recent_seconds=recent_seconds())


def fair_queue(model_key: str):
    """The waiting jobs of one model in the order they should run: staff priority first, then the
    person who has used the least GPU time in the last FAIR_SHARE_HOURS, then first come. Jobs
    that staff hold are left out until released."""
    return _waiting_jobs().filter(model_key=model_key).order_by(*FAIR_ORDER)


def fair_heads(model_keys=None, *, first: int = 1000):
    """The first ``first`` waiting jobs of each model (every model when ``model_keys`` is None), each
    with its ``place`` in that model's fair_queue (1 for the next), in one query whatever the number
    of models: each waiting job's recent GPU time is worked out once, not once per model."""
    waiting = _waiting_jobs() if model_keys is None else _waiting_jobs().filter(model_key__in=set(model_keys))
    place = Window(RowNumber(), partition_by=[F("model_key")], order_by=list(FAIR_ORDER))
    return waiting.annotate(place=place).filter(place__lte=first)


def fair_positions(model_keys, *, first: int = 1000) -> dict[str, dict]:
    """{model key: {job id: place in that model's fair_queue, 1 for the next}} for the first
    ``first`` waiting jobs of each model."""
    positions: dict[str, dict] = {key: {} for key in model_keys}
    for model_key, pk, place in fair_heads(model_keys, first=first).values_list("model_key", "pk", "place"):
        positions[model_key][pk] = place
    return positions


WAITING_SHOWN = 25
WAITING_ROW_FIELDS = ("id", "model_key", "state", "held", "priority", "queued_at", "prompt", "owner_id")


BOARD_CACHED_SECONDS = 2
_BOARD_KEY = "generation.queue-board"


def queue_board_cached(model_keys=None) -> tuple[list[dict], dict]:
    """For the staff queue page: the board, per model (those with jobs, and ``model_keys``), with the first
    WAITING_SHOWN waiting jobs in the order workers will take them and how many wait in all, the held ones and the
    running ones; and recent_outcomes. Five queries, none per model or per job, at most once every
    BOARD_CACHED_SECONDS: the jobs and outcomes are kept in the cache and shared by every staff member's page.
    Ranking 2,000 waiting jobs in fair order and summing the day's renders cost 25-30 ms of SQL at a million jobs;
    a board a second or two old is what a reloaded page shows anyway. A staff action on a job forgets it
    (queue_board_forget), so that whoever acted sees the change at once."""
    kept = cache.get(_BOARD_KEY)
    if kept is None:
        kept = (_board_jobs(), recent_outcomes())
        cache.set(_BOARD_KEY, kept, BOARD_CACHED_SECONDS)
    jobs, outcomes = kept
    return _board(jobs, model_keys), outcomes


def queue_board_forget() -> None:
    """Drop the kept board: the next staff queue page works it out again."""
    cache.delete(_BOARD_KEY)


def _board_jobs() -> dict[str, dict]:
    """The jobs on the board, by model key: ``waiting`` (the first WAITING_SHOWN in fair order, owners read),
    ``waiting_counts`` (how many wait in all), ``held`` and ``running`` (with their owners)."""
    others = RenderJob.objects.filter(Q(state=RenderJob.State.RUNNING) | Q(state=RenderJob.State.QUEUED, held=True))
    held, running = {}, {}
    for job in others.select_related("owner").order_by("started_at", "queued_at"):
        (running if job.state == RenderJob.State.RUNNING else held).setdefault(job.model_key, []).append(job)
    waiting, waiting_counts = {}, {}
    for job in _board_heads(first=WAITING_SHOWN):
        waiting.setdefault(job.model_key, []).append(job)
        waiting_counts[job.model_key] = job.waiting_count
    _owners_fill([job for jobs in waiting.values() for job in jobs])
    return {"waiting": waiting, "waiting_counts": waiting_counts, "held": held, "running": running}


def _board(jobs: dict[str, dict], model_keys) -> list[dict]:
    """The board of _board_jobs' ``jobs``, a dict per model in the registry's order."""
    waiting, held, running = jobs["waiting"], jobs["held"], jobs["running"]
    keys = sorted(set(waiting) | set(held) | set(running) | set(model_keys or []), key=model_order)
    board = []
    for key in keys:
        spec = MODELS.get(key)
        board.append(
            {
                "model_key": key,
                "label": spec.label if spec else key,
                "waiting": waiting.get(key, []),
                "waiting_count": jobs["waiting_counts"].get(key, 0),
                "held": held.get(key, []),
                "running": running.get(key, []),
            }
        )
    return board


def _board_heads(*, first: int):
    """The first ``first`` waiting jobs of each model in fair order, by model, each with its ``place``, its owner's
    ``recent_seconds`` and its model's ``waiting_count``. Only what a waiting row shows, and the owners read apart
    for the rows shown: the fair order sorts every waiting job (2,000 at depth), and each column or join in that
    query is paid for each of them; how many wait per model comes from the same pass over them."""
    if connection.vendor == "postgresql":
        return RenderJob.objects.raw(BOARD_HEADS_SQL, {"since": usage_window_start(), "first": first})
    return _board_heads_portable(first=first)


def _board_heads_portable(*, first: int):
    """_board_heads through fair_heads (every database)."""
    heads = fair_heads(first=first).annotate(waiting_count=Window(Count("pk"), partition_by=[F("model_key")]))
    return heads.only(*WAITING_ROW_FIELDS).order_by("model_key", "place")


# fair_heads for the staff queue on PostgreSQL, in the fair order (fair_order_sql; tests/generation/test_staff_queue.py
# holds it to fair_heads' own), with each person's recent GPU
# time summed once, not once for each of their waiting jobs: 10 heavy users with 1,000 jobs waiting between them
# and 23 hours of usage each cost 23,000 usage rows read in fair_heads, 230 here (fair_share bench: 10 ms -> 2 ms).
BOARD_HEADS_SQL = f"""
WITH waiting AS MATERIALIZED (
    SELECT id, model_key, owner_id, priority, queued_at FROM generation_renderjob WHERE state = 'queued' AND NOT held
), people AS MATERIALIZED (
    SELECT p.owner_id, (
        SELECT COALESCE(SUM(u.milliseconds), 0) FROM generation_usagehour u
        WHERE u.owner_id = p.owner_id AND u.hour >= %(since)s
    ) AS milliseconds
    FROM (SELECT DISTINCT owner_id FROM waiting) p
), shown AS MATERIALIZED (
    SELECT * FROM (
        SELECT w.id, w.model_key, p.milliseconds,
            row_number() OVER (
                PARTITION BY w.model_key ORDER BY {fair_order_sql("w", "p.milliseconds")}
            ) AS place,
            count(*) OVER (PARTITION BY w.model_key) AS waiting_count
        FROM waiting w JOIN people p ON p.owner_id = w.owner_id
    ) ranked
    WHERE place <= %(first)s
)
SELECT j.id, j.model_key, j.state, j.held, j.priority, j.queued_at, j.prompt, j.owner_id,
    s.milliseconds::double precision / 1000.0 AS recent_seconds, s.place, s.waiting_count
FROM shown s CROSS JOIN LATERAL (SELECT * FROM generation_renderjob WHERE id = s.id LIMIT 1) j
ORDER BY s.model_key, s.place
"""  # noqa: S608 (as CLAIM_HEAD_SQL)


def _owners_fill(jobs) -> None:
    """Set each job's owner (id and email only) from one query for all of them."""
    owners = get_user_model().objects.only("id", "email").in_bulk({job.owner_id for job in jobs})
    for job in jobs:
        job.owner = owners[job.owner_id]


def workers_per_model(rows) -> dict[str, dict]:
    """For the staff queue, the GPU workers of each model against its demand: from ``rows`` of (worker, its
    status from workers.worker_status), per model key, how many workers take its jobs now (healthy, idle or
    busy), how many of those are busy, and how many that serve it cannot (unhealthy, or offline). A worker
    that stopped cleanly is not counted."""
    counts: dict[str, dict] = {}
    for worker, status in rows:
        if status == "stopped":
            continue
        taking = worker.is_healthy and status in ("idle", "busy")
        for key in worker.model_keys:
            model = counts.setdefault(key, {"taking": 0, "busy": 0, "out": 0})
            model["taking" if taking else "out"] += 1
            model["busy"] += taking and status == "busy"
    return counts


def recent_outcomes(*, hours: int = 24, failures: int = 5) -> dict:
    """What the operator watches, over the last ``hours``, per model: clips made, failed and cancelled,
    the GPU seconds the renders used, and the latest failure reasons. Two queries."""
    since = timezone.now() - timedelta(hours=hours)
    finished = RenderJob.objects.filter(finished_at__gte=since)
    rows = (
        finished.order_by()
        .values("model_key")
        .annotate(
            succeeded=Count("pk", filter=Q(state=RenderJob.State.SUCCEEDED)),
            failed=Count("pk", filter=Q(state=RenderJob.State.FAILED)),
            cancelled=Count("pk", filter=Q(state=RenderJob.State.CANCELLED)),
            gpu_seconds=Sum("gpu_seconds", default=0.0),
        )
    )
    models = sorted(rows, key=lambda row: model_order(row["model_key"]))
    for row in models:
        row["label"] = MODELS[row["model_key"]].label if row["model_key"] in MODELS else row["model_key"]
    latest = finished.filter(state=RenderJob.State.FAILED).order_by("-finished_at")
    return {"hours": hours, "models": models, "failures": list(latest.select_related("owner")[:failures])}


def model_order(key: str) -> int:
    """Where a model comes in lists: the registry's order, unknown keys last."""
    keys = list(MODELS)
    return keys.index(key) if key in keys else len(keys)
