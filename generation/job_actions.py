"""What owners and staff do to a job once it is queued: cancel, delete, and (staff only) hold, release and
reprioritise; and cancelling every job of people whose access was withdrawn. Each staff action forgets the staff
queue's kept board (queue.queue_board_cached), so that the page shows it at once."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generation import library
from generation.models import RenderJob
from generation.queue import job_announce, queue_board_forget
from generation.quota import charge_refund
from generation.usage import usage_lock_jobs

log = logging.getLogger(__name__)

UNFINISHED = [RenderJob.State.QUEUED, RenderJob.State.RUNNING]


def job_cancel(*, job: RenderJob, reason: str = "Cancelled by its owner.") -> bool:
    """Cancel a queued or running job, refunding its reservation. A running render stops at its
    next denoising step."""
    changed = charge_refund(
        RenderJob.objects.filter(pk=job.pk, state__in=UNFINISHED),
        state=RenderJob.State.CANCELLED,
        finished_at=timezone.now(),
        error=reason[:4000],
    )
    job.refresh_from_db()
    if changed:
        log.info("generation.job_cancelled job=%s", job.pk)
    return bool(changed)


def jobs_cancel_for_owners(*, owner_ids, reason: str) -> int:
    """Cancel every waiting or running job of these people (their access was taken away). Running
    renders see the change at their next denoising step and stop."""
    unfinished = RenderJob.objects.filter(owner_id__in=owner_ids, state__in=UNFINISHED)
    with transaction.atomic():
        locked = usage_lock_jobs(unfinished)
        ending = {"state": RenderJob.State.CANCELLED, "finished_at": timezone.now(), "error": reason[:4000]}
        count = charge_refund(unfinished.filter(pk__in=locked), **ending) if locked else 0
    if count:
        log.info("generation.jobs_cancelled owners=%d jobs=%d", len(owner_ids), count)
    return count


def job_delete(*, job: RenderJob) -> bool:
    """Delete a clip for its owner: a job still waiting or running is cancelled first (and refunded), it
    leaves the owner's favourites and collections, the MP4 and poster are removed from storage, and the row
    stays, marked deleted, for quota, the audit trail and leak tracing. Its media links stop working at once."""
    if not RenderJob.objects.filter(pk=job.pk, deleted_at__isnull=True).update(deleted_at=timezone.now()):
        job.refresh_from_db()
        return False
    job_cancel(job=job, reason="Deleted by its owner.")
    library.job_unlist(job=job)
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


def _audit_job(action: str, *, job: RenderJob, actor, ip=None, **data) -> None:
    from access.audit import audit

    audit(action, actor=actor, subject=job.owner, programme=job.grant.programme, target=job, ip=ip, **data)


def _staff_acted(action: str, *, job: RenderJob, actor, ip=None, **data) -> None:
    """Audit a staff action that changed ``job`` and forget the staff queue's kept board once the change is
    committed (forgotten any earlier, a page read meanwhile would keep the old board), so that whoever acted
    sees the change at once."""
    _audit_job(action, job=job, actor=actor, ip=ip, **data)
    transaction.on_commit(queue_board_forget)


def job_staff_cancel(*, job: RenderJob, actor, ip=None) -> bool:
    cancelled = job_cancel(job=job, reason="Cancelled by the programme's staff.")
    if cancelled:
        _staff_acted("generation.job_cancelled", job=job, actor=actor, ip=ip)
    return cancelled


def job_hold(*, job: RenderJob, actor, ip=None) -> bool:
    """Keep a waiting job from starting. It keeps its quota reservation and its place; only
    staff hold and release jobs."""
    held = RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.QUEUED, held=False).update(held=True)
    job.refresh_from_db()
    if held:
        _staff_acted("generation.job_held", job=job, actor=actor, ip=ip)
    return bool(held)


def job_release(*, job: RenderJob, actor, ip=None) -> bool:
    with transaction.atomic():
        released = RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.QUEUED, held=True).update(held=False)
        if released:
            # The message queued with the job may have been spent on another job while it was held.
            transaction.on_commit(lambda: job_announce(job.pk, job.model_key))
            _staff_acted("generation.job_released", job=job, actor=actor, ip=ip)
    job.refresh_from_db()
    return bool(released)


def job_set_priority(*, job: RenderJob, priority: int, actor, ip=None) -> RenderJob:
    if not -10 <= priority <= 10:
        raise ValidationError({"priority": "Priority runs from -10 to 10."})
    RenderJob.objects.filter(pk=job.pk).update(priority=priority)
    job.refresh_from_db()
    _staff_acted("generation.priority_changed", job=job, actor=actor, ip=ip, priority=priority)
    return job
