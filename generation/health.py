"""Workers that fail safe. A worker that cannot load its model, or that fails BACKLOT_WORKER_FAILURE_LIMIT
renders in a row for faults of its own (render_fault says whose fault an error is), marks itself
unhealthy with the reason and raises the alert (the log event ``generation.worker_unhealthy`` and an audit
event); it then stops consuming its model queues and refuses any message that still reaches it. The job it
failed goes back to the queue with its reservation, uncharged, for a healthy worker to take.

The mark is on the worker's row and outlives restarts: staff clear it (the staff queue page, or
``manage.py worker_health --reset <name>``), and the worker consumes again within one heartbeat. A job that
fails everywhere is bounded (job_give_back), so one poisonous job cannot go round the fleet for ever."""

from __future__ import annotations

import enum
import logging
import os
import time
import uuid

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from generation.models import RenderJob, Worker
from generation.queue import MAX_ATTEMPTS, job_announce
from generation.quota import charge_refund
from generation.registry import MODELS

log = logging.getLogger(__name__)


class Fault(enum.StrEnum):
    BROKEN = "broken"  # the worker cannot render at all (its model does not load): unhealthy at once
    WORKER = "worker"  # its own (CUDA, out of memory, a crash inside the pipeline): counted, the job given back
    JOB = "job"  # the job's (inputs it names, settings the pipeline refuses, too long a render): the job fails


# RuntimeError's subclasses that say something about the request rather than the machine.
_REQUEST_ERRORS = (NotImplementedError, RecursionError)


def render_fault(error: BaseException) -> Fault:
    """Whose fault an error raised while rendering is. A model that does not load breaks the worker; an error
    from inside the pipeline's computation (torch raises RuntimeError for CUDA faults, out of memory on a GPU
    or a CPU, a bad device) is the worker's; anything else (ValueError for a size the pipeline refuses, a
    render over its time limit) is the job's. Cancellation and revocation (runner.RenderStopped) are nobody's
    fault and never reach here."""
    from celery.exceptions import SoftTimeLimitExceeded

    from generation.runner import ModelUnavailable

    if isinstance(error, ModelUnavailable):
        return Fault.BROKEN
    if isinstance(error, SoftTimeLimitExceeded):
        return Fault.JOB
    if isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and not isinstance(error, _REQUEST_ERRORS)):
        return Fault.WORKER
    return Fault.JOB


def worker_is_healthy(hostname: str) -> bool:
    """False once the worker has marked itself unhealthy, until staff reset it. A worker with no row is healthy."""
    return not Worker.objects.filter(hostname=hostname[:255], unhealthy_since__isnull=False).exists()


def _worker_row(hostname: str) -> Worker:
    """The worker's row; made if missing (a render process may report before its parent has registered)."""
    now = timezone.now()
    worker, _ = Worker.objects.get_or_create(
        hostname=hostname[:255], defaults={"pid": os.getpid(), "started_at": now, "last_seen": now}
    )
    return worker


def worker_rendered(*, hostname: str) -> None:
    """A render finished on this worker: its run of failures ends."""
    Worker.objects.filter(hostname=hostname[:255], failures_in_row__gt=0).update(failures_in_row=0)


def worker_fault(*, job: RenderJob, worker: str, reason: str, fault: Fault) -> bool:
    """A render failed for a fault of the worker's own: count it, mark the worker unhealthy when it cannot
    load its model or has failed BACKLOT_WORKER_FAILURE_LIMIT renders in a row, then give the job back to the
    queue. Returns True when the worker is unhealthy now."""
    row = _worker_row(worker)
    Worker.objects.filter(pk=row.pk).update(failures_in_row=F("failures_in_row") + 1)
    row.refresh_from_db(fields=["failures_in_row"])
    log.warning(
        "generation.worker_fault worker=%s job=%s fault=%s in_row=%d reason=%s",
        worker,
        job.pk,
        fault,
        row.failures_in_row,
        reason,
    )
    unhealthy = fault is Fault.BROKEN or row.failures_in_row >= settings.BACKLOT_WORKER_FAILURE_LIMIT
    if unhealthy:
        if fault is not Fault.BROKEN:
            reason = f"{row.failures_in_row} renders in a row failed on this worker; the last: {reason}"
        worker_mark_unhealthy(hostname=worker, reason=reason)
    # After the mark, so that the worker has stopped taking jobs before this one is announced again.
    job_give_back(job=job, reason=reason, worker_unhealthy=unhealthy)
    return unhealthy


def worker_mark_unhealthy(*, hostname: str, reason: str) -> bool:
    """Mark the worker unhealthy, raise the alert, and ask it to stop consuming. Returns True if it was
    healthy until now (the alert is raised once)."""
    from access.audit import audit

    _worker_row(hostname)
    marked = Worker.objects.filter(hostname=hostname[:255], unhealthy_since__isnull=True).update(
        unhealthy_since=timezone.now(), health_reason=reason[:4000]
    )
    if marked:
        log.error("generation.worker_unhealthy worker=%s reason=%s", hostname, reason)
        audit("generation.worker_unhealthy", target=hostname, reason=reason[:1000])
    worker_stop_consuming(hostname=hostname)
    return bool(marked)


def worker_stop_consuming(*, hostname: str) -> None:
    """Ask the worker's main process, through Celery's remote control, to stop consuming every model queue
    now. Best effort: its heartbeat (generation/signals.py) also makes its consumers follow its row."""
    from celery import current_app

    try:
        for queue in sorted({spec.queue for spec in MODELS.values()}):
            current_app.control.cancel_consumer(queue, destination=[hostname], reply=False)
    except Exception:  # the broker may be away; the heartbeat does the same within one beat
        log.exception("generation.worker_stop_consuming_failed worker=%s", hostname)


def worker_health_reset(*, worker: Worker, actor=None, ip: str | None = None) -> bool:
    """Clear the worker's unhealthy mark (staff have fixed what was wrong, or want it tried again); it consumes
    its queues again at its next heartbeat. Audited. Returns False if it was healthy already."""
    from access.audit import audit

    reset = Worker.objects.filter(pk=worker.pk, unhealthy_since__isnull=False).update(
        unhealthy_since=None, health_reason="", failures_in_row=0
    )
    if reset:
        audit(
            "generation.worker_health_reset",
            actor=actor,
            target=worker.hostname,
            ip=ip,
            reason=worker.health_reason[:1000],
        )
        log.info("generation.worker_health_reset worker=%s", worker.hostname)
    worker.refresh_from_db()
    return bool(reset)


GIVEN_UP = (
    "{count} workers turned unhealthy over this job and gave it back, and it will not be tried again. "
    "The last: {reason} Its GPU time was refunded."
)
FAILED_TOO_OFTEN = (
    "The render failed {count} times for faults its workers took as their own, and it will not be tried again. "
    "The last: {reason} Its GPU time was refunded."
)


def job_give_back(*, job: RenderJob, reason: str, worker_unhealthy: bool = False) -> bool:
    """Put a job its worker could not render, for a fault of the worker's, back in the queue: its reservation
    kept, nothing charged, announced again for another worker. Returns True if it went back.

    Two bounds keep a job that fails everywhere from going round for ever. A failure that made its worker
    unhealthy is the worker's to own: it does not count as one of the job's attempts (a broken worker that
    takes the same job three times in a row must not use up its attempts), but the job fails, refunded, once
    MAX_ATTEMPTS workers have turned unhealthy over it. Any other failure counts as an attempt, and the job
    fails once it has had MAX_ATTEMPTS."""
    mine = RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.RUNNING, attempts=job.attempts)
    reason = reason.rstrip(".") + "."
    if worker_unhealthy and job.given_back + 1 >= MAX_ATTEMPTS:
        spent = GIVEN_UP.format(count=job.given_back + 1, reason=reason)
        spent_fields = {"given_back": F("given_back") + 1}
    elif not worker_unhealthy and job.attempts >= MAX_ATTEMPTS:
        spent, spent_fields = FAILED_TOO_OFTEN.format(count=job.attempts, reason=reason), {}
    else:
        spent = None
    if spent is not None:
        ended = charge_refund(
            mine, state=RenderJob.State.FAILED, finished_at=timezone.now(), error=spent[:4000], **spent_fields
        )
        if ended:
            log.warning("generation.job_given_up job=%s attempts=%d", job.pk, job.attempts)
        return False
    owned = {"attempts": F("attempts") - 1, "given_back": F("given_back") + 1} if worker_unhealthy else {}
    back = mine.update(state=RenderJob.State.QUEUED, worker="", progress_step=0, stage="", denoised_at=None, **owned)
    if back:
        job_announce(job.pk, job.model_key)
        log.warning("generation.job_given_back job=%s attempts=%d reason=%s", job.pk, job.attempts, reason)
    return bool(back)


# How long an unhealthy worker waits before passing on a message that reached it anyway, so that a worker
# whose consumers have not stopped yet does not spin on the same message.
PASS_ON_PAUSE_SECONDS = 1.0


def message_pass_on(*, hint_id, worker: str, task_id: str = "") -> None:
    """An unhealthy worker got a message: it claims nothing, announces the job again for the others (a job
    this message had it claim before, redelivered after a crash, is given back), and asks once more to stop
    consuming."""
    worker_stop_consuming(hostname=worker)
    time.sleep(PASS_ON_PAUSE_SECONDS)
    if task_id:
        for job in RenderJob.objects.filter(task_id=task_id, state=RenderJob.State.RUNNING):
            job_give_back(job=job, reason=f"{worker} is unhealthy.")
            return
    try:
        hint = uuid.UUID(str(hint_id))
    except ValueError:
        return
    model_key = RenderJob.objects.filter(pk=hint).values_list("model_key", flat=True).first()
    if model_key is not None:
        job_announce(hint, model_key)
        log.info("generation.message_passed_on job=%s worker=%s", hint, worker)
