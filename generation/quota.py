"""GPU-time quotas: what a grant has used, and the three moves of a job's charge. A job reserves its
estimated GPU seconds when it is queued (charge_reserve), gives them all back when it is cancelled or fails
(charge_refund), and is charged what the render really used when it succeeds (charge_settle). These three
are the only writers of ``RenderJob.charged_seconds``; a grant's usage is the sum of that column."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from access.models import Grant
from generation.models import RenderJob


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


def grant_seconds_left(grant: Grant, usage: dict) -> tuple[float, float]:
    """(today, in total): the GPU seconds ``grant`` has left, given its ``usage`` (grant_usage); never below zero."""
    return (
        max(0.0, grant.gpu_seconds_per_day - usage["seconds_today"]),
        max(0.0, grant.gpu_seconds_total - usage["seconds_total"]),
    )


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


def variations_refusal(*, count: int, limit: int, active: int) -> str | None:
    """Why ``count`` variations cannot all queue on a grant letting ``limit`` jobs wait or run at once while
    ``active`` do, or None if they can. Said in full, so nobody with no jobs is told they have too many."""
    if active + count <= limit:
        return None
    jobs = "job" if limit == 1 else "jobs"
    return (
        f"You asked for {count} variations; your grant lets {limit} {jobs} wait or run at once, "
        f"and you have {active} now."
    )


def variations_room_check(grant: Grant, *, count: int) -> None:
    """Raise QuotaExceeded if ``grant`` has no room for ``count`` more jobs waiting or running."""
    refusal = variations_refusal(count=count, limit=grant.max_queued_jobs, active=grant_usage(grant)["active_jobs"])
    if refusal:
        raise QuotaExceeded(refusal)


def _room_check(grant: Grant, *, estimate: float) -> None:
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


def charge_reserve(*, grant: Grant, estimate: float, **job_fields) -> RenderJob:
    """Create the job, reserving ``estimate`` GPU seconds of ``grant``, or raise QuotaExceeded and create
    nothing. The caller holds ``grant``'s row lock (select_for_update), so that concurrent submissions
    cannot together reserve more than its quota."""
    _room_check(grant, estimate=estimate)
    return RenderJob.objects.create(grant=grant, charged_seconds=estimate, **job_fields)


def charge_refund(jobs: QuerySet[RenderJob], **ending) -> int:
    """Give back everything ``jobs`` reserved, in the same UPDATE that ends them (``ending``: the new
    state, reason and time), so a job is never ended without its refund nor refunded twice. Returns how
    many rows changed."""
    return jobs.update(charged_seconds=0, **ending)


def charge_settle(jobs: QuerySet[RenderJob], *, device_seconds: float, **ending) -> int:
    """Charge ``jobs`` what the render really used, in place of its reservation, in the same UPDATE
    that marks them done. Returns how many rows changed."""
    return jobs.update(charged_seconds=device_seconds, **ending)
