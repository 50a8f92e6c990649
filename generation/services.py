"""Writes for render jobs: create, claim, progress, finish, cancel, and the render itself."""

from __future__ import annotations

import errno
import logging
import secrets
import time
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, F, FloatField, OuterRef, Q, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from access import leaks
from access.models import Grant
from access.policy import current_grant, may_render
from access.terms import terms_accepted_current
from core.text import text_problem
from generation import broker
from generation.models import PromptRefusal, RenderJob
from generation.outages import outlasting_database_restarts, retried
from generation.prompt_policy import prompt_screen
from generation.registry import MODELS, model_get
from generation.workers import worker_took_job

log = logging.getLogger(__name__)

PROMPT_MAX_LENGTH = 1000
SEED_MAX = 2**32 - 1
MAX_ATTEMPTS = 3


def job_validate(
    *,
    prompt: str,
    negative_prompt: str,
    model_key: str,
    num_frames: int,
    width: int,
    height: int,
    num_steps: int,
    guidance_scale: float,
    seed: int | None,
    grant: Grant | None = None,
) -> dict[str, str]:
    """Every rule a job's settings must meet, the model's and the grant's, as {field: message}.
    Empty when the job may be queued."""
    errors: dict[str, str] = {}
    if not prompt.strip():
        errors["prompt"] = "Write a prompt describing the clip."
    elif len(prompt) > PROMPT_MAX_LENGTH:
        errors["prompt"] = f"Prompts are limited to {PROMPT_MAX_LENGTH} characters (this one has {len(prompt)})."
    elif problem := text_problem(prompt, multiline=True):
        errors["prompt"] = problem
    if len(negative_prompt) > PROMPT_MAX_LENGTH:
        errors["negative_prompt"] = f"Negative prompts are limited to {PROMPT_MAX_LENGTH} characters."
    elif problem := text_problem(negative_prompt, multiline=True):
        errors["negative_prompt"] = problem
    if seed is not None and not (0 <= seed <= SEED_MAX):
        errors["seed"] = f"Seed must be from 0 to {SEED_MAX}."
    spec = MODELS.get(model_key)
    if spec is None:
        errors["model_key"] = f"Unknown model {model_key!r}. Choose one of: {', '.join(MODELS)}."
        return errors
    errors.update(
        spec.validate(
            num_frames=num_frames, width=width, height=height, num_steps=num_steps, guidance_scale=guidance_scale
        )
    )
    if grant is not None:
        if not grant.programme.offers_model(model_key):
            errors.setdefault("model_key", f"{grant.programme.name} does not offer {spec.label}.")
        elif not grant.allows_model(model_key):
            errors.setdefault("model_key", f"Your grant does not include {spec.label}.")
        for field, value, limit, noun in (
            ("num_frames", num_frames, grant.max_frames, "frames"),
            ("width", width, grant.max_width, "pixels wide"),
            ("height", height, grant.max_height, "pixels high"),
            ("num_steps", num_steps, grant.max_steps, "steps"),
        ):
            if value > limit:
                errors.setdefault(field, f"Your grant allows at most {limit} {noun}.")
    return errors


class QuotaExceeded(Exception):
    """The grant has no room for this job: too many jobs waiting, or GPU seconds used up."""


def grant_usage(grant: Grant, *, at=None) -> dict:
    """What ``grant`` has used: GPU seconds today and in total (settled, plus reservations of
    jobs still waiting or running), how much of that is reserved, and how many jobs are waiting or
    running. Deleted clips still count: deleting a clip never gives back what it cost."""
    return _usage(RenderJob.objects.filter(grant=grant).aggregate(**_usage_sums(at)))


def grants_usage(grants, *, at=None) -> dict[int, dict]:
    """{grant id: grant_usage(grant)} for many grants in one query, for lists of people."""
    rows = RenderJob.objects.filter(grant__in=grants).values("grant").annotate(**_usage_sums(at)).order_by()
    found = {row["grant"]: _usage(row) for row in rows}
    empty = _usage({"total": 0.0, "today": 0.0, "reserved": 0.0, "active": 0})
    return {grant.pk: found.get(grant.pk, empty) for grant in grants}


def _usage_sums(at) -> dict:
    at = at or timezone.now()
    day_start = timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)
    active = Q(state__in=[RenderJob.State.QUEUED, RenderJob.State.RUNNING])
    return {
        "total": Sum("charged_seconds", default=0.0),
        "today": Sum("charged_seconds", filter=Q(queued_at__gte=day_start), default=0.0),
        "reserved": Sum("charged_seconds", filter=active, default=0.0),
        "active": Count("pk", filter=active),
    }


def _usage(totals: dict) -> dict:
    return {
        "seconds_total": totals["total"],
        "seconds_today": totals["today"],
        "seconds_reserved": totals["reserved"],
        "active_jobs": totals["active"],
    }


def _reserve(grant: Grant, *, estimate: float) -> None:
    usage = grant_usage(grant)
    if usage["active_jobs"] >= grant.max_queued_jobs:
        raise QuotaExceeded(
            f"You already have {usage['active_jobs']} jobs waiting or running, the most your grant allows "
            f"({grant.max_queued_jobs}). Wait for one to finish or cancel one."
        )
    if usage["seconds_today"] + estimate > grant.gpu_seconds_per_day:
        raise QuotaExceeded(
            f"This job needs about {estimate:.0f} GPU seconds; {usage['seconds_today']:.0f} of your "
            f"{grant.gpu_seconds_per_day} seconds for today are used."
        )
    if usage["seconds_total"] + estimate > grant.gpu_seconds_total:
        raise QuotaExceeded(
            f"This job needs about {estimate:.0f} GPU seconds; {usage['seconds_total']:.0f} of your grant's "
            f"{grant.gpu_seconds_total} seconds are used."
        )


def job_create(
    *,
    owner,
    prompt: str,
    model_key: str,
    num_frames: int,
    width: int,
    height: int,
    num_steps: int,
    guidance_scale: float,
    negative_prompt: str = "",
    seed: int | None = None,
    idempotency_key: str = "",
    via: str = PromptRefusal.Via.WEB,
) -> RenderJob:
    """Queue a render for ``owner`` against their grant, reserving its estimated GPU seconds.
    Raises PermissionDenied, ValidationError or QuotaExceeded, and then creates nothing; a prompt
    the programme's prompt policy refuses is recorded (see prompt_policy.prompt_screen). With an
    ``idempotency_key`` already used by ``owner``, returns that job instead of queueing another
    (``job.replayed`` is then True), or raises IdempotencyConflict if the settings differ."""
    decision = may_render(owner)
    if not decision:
        raise PermissionDenied(decision.reason)
    fields = {
        "prompt": prompt.strip(),
        "negative_prompt": negative_prompt.strip(),
        "model_key": model_key,
        "num_frames": num_frames,
        "width": width,
        "height": height,
        "num_steps": num_steps,
        "guidance_scale": guidance_scale,
        "seed": seed,
    }
    grant = current_grant(owner)
    errors = job_validate(**fields, grant=grant)
    if errors:
        raise ValidationError(errors)
    if fields["seed"] is None:
        fields["seed"] = secrets.randbelow(SEED_MAX + 1)
    estimate = model_get(model_key).estimate_gpu_seconds(
        num_frames=num_frames, width=width, height=height, num_steps=num_steps
    )
    leaks.text_scan(f"{fields['prompt']}\n{fields['negative_prompt']}", where="a render prompt", submitted_by=owner)
    prompt_screen(
        user=owner, programme=grant.programme, prompt=fields["prompt"], negative_prompt=fields["negative_prompt"],
        model_key=model_key, via=via,
    )  # fmt: skip
    with transaction.atomic():
        # The row lock serialises submissions against one grant, so concurrent requests cannot
        # together reserve more than its quota (on SQLite the IMMEDIATE transaction does the same).
        grant = Grant.objects.select_for_update().get(pk=grant.pk)
        if idempotency_key:
            earlier = RenderJob.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
            if earlier is not None:
                return _replay(earlier, {**fields, "seed": seed})  # a random seed was not asked for
        _reserve(grant, estimate=estimate)
        job = RenderJob.objects.create(
            owner=owner, grant=grant, progress_total=num_steps, charged_seconds=estimate,
            terms=terms_accepted_current(owner, grant.programme) or None, idempotency_key=idempotency_key, **fields,
        )  # fmt: skip
        transaction.on_commit(lambda: _enqueue(job))
    log.info("generation.job_queued job=%s owner=%s model=%s reserved=%.1f", job.pk, owner.pk, model_key, estimate)
    return job


VARIATION_COUNTS = (1, 2, 4)


def jobs_create_variations(
    *, owner, count: int, seed: int | None = None, via: str = PromptRefusal.Via.WEB, **settings
) -> list[RenderJob]:
    """``count`` clips of one prompt with consecutive seeds, each a job charged on its own. All are
    queued or none: a grant without room for every one of them refuses the lot."""
    if count not in VARIATION_COUNTS:
        raise ValidationError({"variations": "Make 1, 2 or 4 variations."})
    decision = may_render(owner)
    if not decision:
        raise PermissionDenied(decision.reason)
    # Scanned and screened before the transaction, so that what they record is kept when it rolls back.
    prompt, negative_prompt = settings.get("prompt", "").strip(), settings.get("negative_prompt", "").strip()
    leaks.text_scan(f"{prompt}\n{negative_prompt}", where="a render prompt", submitted_by=owner)
    prompt_screen(
        user=owner, programme=current_grant(owner).programme, prompt=prompt, negative_prompt=negative_prompt,
        model_key=settings.get("model_key", ""), via=via,
    )  # fmt: skip
    base = secrets.randbelow(SEED_MAX + 1) if seed is None else seed
    with transaction.atomic():
        return [
            job_create(owner=owner, seed=(base + index) % (SEED_MAX + 1), via=via, **settings) for index in range(count)
        ]


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a job with other settings."""


def _replay(job: RenderJob, fields: dict) -> RenderJob:
    differing = [
        name for name, value in fields.items() if (name != "seed" or value is not None) and getattr(job, name) != value
    ]
    if differing:
        raise IdempotencyConflict(
            f"This idempotency key was already used for job {job.pk} with a different {', '.join(differing)}."
        )
    job.replayed = True
    return job


def _enqueue(job: RenderJob) -> None:
    _announce(job.pk, job.model_key)


def job_cancel(*, job: RenderJob, reason: str = "Cancelled by its owner.") -> bool:
    """Cancel a queued or running job, refunding its reservation. A running render stops at its
    next denoising step."""
    changed = RenderJob.objects.filter(pk=job.pk, state__in=[RenderJob.State.QUEUED, RenderJob.State.RUNNING]).update(
        state=RenderJob.State.CANCELLED, finished_at=timezone.now(), error=reason[:4000], charged_seconds=0
    )
    job.refresh_from_db()
    if changed:
        log.info("generation.job_cancelled job=%s", job.pk)
    return bool(changed)


def _audit_job(action: str, *, job: RenderJob, actor, ip=None, **data) -> None:
    from access.audit import audit

    audit(action, actor=actor, subject=job.owner, programme=job.grant.programme, target=job, ip=ip, **data)


def job_staff_cancel(*, job: RenderJob, actor, ip=None) -> bool:
    cancelled = job_cancel(job=job, reason="Cancelled by the programme's staff.")
    if cancelled:
        _audit_job("generation.job_cancelled", job=job, actor=actor, ip=ip)
    return cancelled


def job_hold(*, job: RenderJob, actor, ip=None) -> bool:
    """Keep a waiting job from starting. It keeps its quota reservation and its place; only
    staff hold and release jobs."""
    held = RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.QUEUED, held=False).update(held=True)
    job.refresh_from_db()
    if held:
        _audit_job("generation.job_held", job=job, actor=actor, ip=ip)
    return bool(held)


def job_release(*, job: RenderJob, actor, ip=None) -> bool:
    with transaction.atomic():
        released = RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.QUEUED, held=True).update(held=False)
        if released:
            # The message queued with the job may have been spent on another job while it was held.
            transaction.on_commit(lambda: _enqueue(job))
            _audit_job("generation.job_released", job=job, actor=actor, ip=ip)
    job.refresh_from_db()
    return bool(released)


def job_delete(*, job: RenderJob) -> bool:
    """Delete a clip for its owner: a job still waiting or running is cancelled first (and refunded),
    the MP4 and poster are removed from storage, and the row stays, marked deleted, for quota, the
    audit trail and leak tracing. Its media links stop working at once."""
    if not RenderJob.objects.filter(pk=job.pk, deleted_at__isnull=True).update(deleted_at=timezone.now()):
        job.refresh_from_db()
        return False
    job_cancel(job=job, reason="Deleted by its owner.")
    # A render that finished before the cancel stored its files; one that had not finished cannot store
    # them any more (job_succeed only writes to a running job and otherwise removes what it saved).
    job.refresh_from_db()
    for stored in (job.output, job.poster):
        if stored:
            stored.storage.delete(stored.name)
    RenderJob.objects.filter(pk=job.pk).update(output="", poster="")
    job.refresh_from_db()
    _audit_job("generation.clip_deleted", job=job, actor=job.owner, state=job.state)
    log.info("generation.clip_deleted job=%s", job.pk)
    return True


def jobs_cancel_for_owners(*, owner_ids, reason: str) -> int:
    """Cancel every waiting or running job of these people (their access was taken away). Running
    renders see the change at their next denoising step and stop."""
    count = RenderJob.objects.filter(
        owner_id__in=owner_ids, state__in=[RenderJob.State.QUEUED, RenderJob.State.RUNNING]
    ).update(state=RenderJob.State.CANCELLED, finished_at=timezone.now(), error=reason[:4000], charged_seconds=0)
    if count:
        log.info("generation.jobs_cancelled owners=%d jobs=%d", len(owner_ids), count)
    return count


def job_claim(*, job_id, worker: str, task_id: str = "") -> RenderJob | None:
    """Take this job for this worker. Returns None when there is nothing to run: the job is gone,
    finished or cancelled. A job found 'running' was left by a worker that died; it is run again
    until it has cost MAX_ATTEMPTS workers, then failed for good."""
    claimable = Q(state=RenderJob.State.QUEUED, held=False) | Q(state=RenderJob.State.RUNNING)
    now = timezone.now()
    changed = RenderJob.objects.filter(claimable, pk=job_id, attempts__lt=MAX_ATTEMPTS).update(
        state=RenderJob.State.RUNNING, attempts=F("attempts") + 1, worker=worker[:255], task_id=task_id[:64],
        started_at=now, heartbeat_at=now, progress_step=0,
    )  # fmt: skip
    if changed != 1:
        _fail_spent(RenderJob.objects.filter(pk=job_id))
        return None
    worker_took_job(hostname=worker, job_id=job_id)
    return RenderJob.objects.select_related("owner", "grant__programme").get(pk=job_id)


def _waiting_jobs():
    """Jobs waiting to start (not held), each with the GPU seconds its owner used in the last
    FAIR_SHARE_HOURS as ``recent_seconds``."""
    since = timezone.now() - timedelta(hours=settings.BACKLOT_FAIR_SHARE_HOURS)
    recent = (
        RenderJob.objects.filter(owner=OuterRef("owner"), queued_at__gte=since)
        .exclude(state=RenderJob.State.QUEUED)
        .values("owner")
        .annotate(seconds=Sum("charged_seconds"))
        .values("seconds")
    )
    return RenderJob.objects.filter(state=RenderJob.State.QUEUED, held=False).annotate(
        recent_seconds=Coalesce(Subquery(recent), Value(0.0), output_field=FloatField())
    )


# Staff priority first, then the person who has used the least GPU time recently, then first come.
FAIR_ORDER = (F("priority").desc(), F("recent_seconds").asc(), F("queued_at").asc(), F("pk").asc())


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


def job_claim_next(*, hint_id, worker: str, task_id: str = "") -> RenderJob | None:
    """What a worker renders for one message. A message is queued for each submitted job, but
    waiting jobs are taken in fair-share order, so a message really means "one job of this model is
    waiting". A message delivered again after its worker died takes back the job it had claimed."""
    if task_id:
        mine = RenderJob.objects.filter(task_id=task_id, state=RenderJob.State.RUNNING).values_list("pk", flat=True)
        for job_id in mine[:1]:
            return job_claim(job_id=job_id, worker=worker, task_id=task_id)
    model_key = RenderJob.objects.filter(pk=hint_id).values_list("model_key", flat=True).first()
    if model_key is None:
        return None
    for candidate in fair_queue(model_key).values_list("pk", flat=True)[:20]:
        job = job_claim(job_id=candidate, worker=worker, task_id=task_id)
        if job is not None:  # else another worker took it first: try the next
            return job
    return None


SPENT_REASON = f"The render stopped its worker {MAX_ATTEMPTS} times and will not be tried again."


def _fail_spent(jobs) -> int:
    """Fail (and refund) the jobs among ``jobs`` that have used up their attempts without finishing."""
    spent = jobs.filter(
        state__in=[RenderJob.State.QUEUED, RenderJob.State.RUNNING], held=False, attempts__gte=MAX_ATTEMPTS
    )
    now = timezone.now()
    count = spent.update(state=RenderJob.State.FAILED, finished_at=now, error=SPENT_REASON, charged_seconds=0)
    if count:
        log.warning("generation.jobs_failed_spent count=%d", count)
    return count


def jobs_requeue_stale() -> int:
    """Running jobs whose worker has shown no sign of life for BACKLOT_STALE_SECONDS go back to the
    queue (their next claim counts as another attempt), or fail with a reason, refunded, once they
    have had MAX_ATTEMPTS; so no job is left running forever. Returns how many it resolved."""
    stale_before = timezone.now() - timedelta(seconds=settings.BACKLOT_STALE_SECONDS)
    silent = Q(state=RenderJob.State.RUNNING, heartbeat_at__lt=stale_before)
    resolved = _fail_spent(RenderJob.objects.filter(silent))
    stale = list(RenderJob.objects.filter(silent).values_list("pk", "model_key"))
    for job_id, model_key in stale:
        if RenderJob.objects.filter(silent, pk=job_id).update(state=RenderJob.State.QUEUED, worker=""):
            resolved += 1
            _announce(job_id, model_key)
            log.warning("generation.job_requeued job=%s reason=stale", job_id)
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
            _announce(job_id, model_key)
            announced += 1
        if missing > 0:
            log.warning("generation.jobs_reannounced model=%s count=%d", model_key, missing)
    return announced


def _announce(job_id, model_key: str) -> None:
    broker.job_announce(job_id, queue=model_get(model_key).queue)


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


def job_set_priority(*, job: RenderJob, priority: int, actor, ip=None) -> RenderJob:
    if not -10 <= priority <= 10:
        raise ValidationError({"priority": "Priority runs from -10 to 10."})
    RenderJob.objects.filter(pk=job.pk).update(priority=priority)
    job.refresh_from_db()
    _audit_job("generation.priority_changed", job=job, actor=actor, ip=ip, priority=priority)
    return job


def _running(job: RenderJob):
    """The job's row, only while this attempt still owns it."""
    return RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.RUNNING, attempts=job.attempts)


@outlasting_database_restarts
def job_progress(*, job: RenderJob, step: int, total: int) -> None:
    """Record a finished denoising step; raises RenderStopped if the job must not go on."""
    from generation.runner import RenderStopped

    owner = get_user_model().objects.get(pk=job.owner_id)
    decision = may_render(owner)
    if not decision:
        job_fail(job=job, reason=f"Stopped: {decision.reason}", state=RenderJob.State.CANCELLED)
        _stopped(job)
        raise RenderStopped(decision.reason)
    if not _running(job).update(progress_step=step, progress_total=total, heartbeat_at=timezone.now()):
        _stopped(job)
        raise RenderStopped("The job was cancelled.")


def _stopped(job: RenderJob) -> None:
    mine = RenderJob.objects.filter(pk=job.pk, attempts=job.attempts, stopped_at__isnull=True)
    mine.update(stopped_at=timezone.now())


@outlasting_database_restarts
def job_fail(*, job: RenderJob, reason: str, state: str = RenderJob.State.FAILED) -> bool:
    changed = _running(job).update(state=state, error=reason[:4000], finished_at=timezone.now(), charged_seconds=0)
    if changed:
        log.warning("generation.render_failed job=%s state=%s reason=%s", job.pk, state, reason)
    return bool(changed)


def job_succeed(
    *, job: RenderJob, video: bytes, device_seconds: float, encode_seconds: float, poster: bytes | None = None
) -> bool:
    storage = job.output.field.storage
    saved: list[str] = []
    try:
        saved.append(storage.save(f"renders/{job.owner_id}/{job.pk}.mp4", ContentFile(video)))
        if poster:
            saved.append(storage.save(f"posters/{job.owner_id}/{job.pk}.jpg", ContentFile(poster)))
    except Exception:
        _delete_quietly(storage, saved)  # a clip without its poster, or half a clip, is not kept
        raise
    name, poster_name = saved[0], saved[1] if poster else ""
    changed = retried(
        lambda: _running(job).update(
            state=RenderJob.State.SUCCEEDED,
            output=name,
            poster=poster_name,
            output_bytes=len(video),
            finished_at=timezone.now(),
            gpu_seconds=device_seconds,
            encode_seconds=encode_seconds,
            progress_step=F("progress_total"),
            error="",
            charged_seconds=device_seconds,
        )
    )
    if not changed:
        # Cancelled, deleted or taken over while encoding: the clip must not outlive the job's state.
        _delete_quietly(storage, saved)
    return bool(changed)


def _delete_quietly(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            log.exception("generation.media_delete_failed name=%s", name)


def job_render(*, job_id, worker: str, task_id: str = "") -> RenderJob | None:
    """Claim a job and render it, then hand the frames to post-processing (marks, encoding,
    storage), which runs beside the next render. Every outcome is written to the row."""
    from generation import postprocess, runner
    from generation.encoding import frames_to_uint8

    job = job_claim_next(hint_id=job_id, worker=worker, task_id=task_id)
    if job is None:
        log.info("generation.job_skipped job=%s", job_id)
        return None
    spec = model_get(job.model_key)
    params = runner.RenderParams(
        prompt=job.prompt,
        negative_prompt=job.negative_prompt,
        num_frames=job.num_frames,
        width=job.width,
        height=job.height,
        num_steps=job.num_steps,
        guidance_scale=job.guidance_scale,
        seed=job.seed,
    )
    try:
        result = runner.render(spec, params, on_step=lambda step, total: job_progress(job=job, step=step, total=total))
        frames = frames_to_uint8(result.frames)
    except runner.RenderStopped as stopped:
        log.info("generation.render_stopped job=%s reason=%s", job.pk, stopped.reason)
    except runner.ModelUnavailable as error:
        job_fail(job=job, reason=str(error))
    except SoftTimeLimitExceeded:
        job_fail(job=job, reason=f"The render took longer than the {settings.CELERY_TASK_SOFT_TIME_LIMIT} s limit.")
    except Exception as error:
        log.exception("generation.render_crashed job=%s", job.pk)
        job_fail(job=job, reason=f"The render failed: {type(error).__name__}: {error}")
    else:
        retried(lambda: _running(job).update(heartbeat_at=timezone.now()))
        postprocess.submit(lambda: job_finish(job=job, frames=frames, device_seconds=result.device_seconds))
    retried(job.refresh_from_db)
    return job


def job_finish(*, job: RenderJob, frames, device_seconds: float) -> bool:
    """The CPU half of a render: mark the frames, encode them with signed provenance and store the
    clip, then mark the job done."""
    from generation import watermark
    from generation.encoding import encode_mp4
    from generation.poster import poster_jpeg
    from generation.provenance import provenance_metadata

    spec = model_get(job.model_key)
    try:
        if not retried(lambda: _running(job).update(heartbeat_at=timezone.now())):
            return False  # cancelled or taken over while it waited for post-processing
        started = time.perf_counter()
        video = encode_mp4(
            watermark.mark_clip(frames, job),
            fps=spec.fps,
            crf=settings.BACKLOT_VIDEO_CRF,
            preset=settings.BACKLOT_VIDEO_PRESET,
            metadata=provenance_metadata(job),
        )
        return job_succeed(
            job=job,
            video=video,
            device_seconds=device_seconds,
            encode_seconds=time.perf_counter() - started,
            poster=poster_jpeg(frames),
        )
    except Exception as error:
        log.exception("generation.postprocess_failed job=%s", job.pk)
        return job_fail(job=job, reason=_postprocess_failure(error))


def _postprocess_failure(error: Exception) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "The clip could not be stored: the media storage is full. Its GPU time was refunded; try again later."
    return f"The clip could not be encoded or stored: {type(error).__name__}: {error}"
