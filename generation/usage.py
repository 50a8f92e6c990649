"""Recent GPU usage, what fair share orders waiting jobs by: the GPU time each person's started jobs were
charged over the last BACKLOT_FAIR_SHARE_HOURS. A job counts from the moment it stops waiting (its
reservation while it runs, what it really used once settled, nothing once refunded) and no longer counts if
it goes back to the queue.

The sum is read from UsageHour, each person's charges per hour the jobs were queued in, which the database
keeps in step with every change to a job's row (the triggers of migration 0016): a person's recent usage is
a few indexed rows however many jobs they ran. The window is counted in whole hours: it starts at the top of
the hour that was BACKLOT_FAIR_SHARE_HOURS ago (up to an hour earlier than that moment)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import FloatField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from generation.models import UsageHour


def usage_window_start(*, now: datetime | None = None) -> datetime:
    """The first hour fair share counts: the top of the hour (UTC) BACKLOT_FAIR_SHARE_HOURS ago."""
    since = (now or timezone.now()) - timedelta(hours=settings.BACKLOT_FAIR_SHARE_HOURS)
    return since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def recent_seconds(*, now: datetime | None = None):
    """An expression for a query of jobs: the GPU seconds each job's owner used in the fair-share window, 0 if
    none. A few rows of UsageHour per person, read through its (owner, hour) index."""
    total = (
        UsageHour.objects.filter(owner=OuterRef("owner"), hour__gte=usage_window_start(now=now))
        .order_by()
        .values("owner")
        .annotate(total=Sum("milliseconds"))
        .values("total")
    )
    milliseconds = Coalesce(Subquery(total), Value(0))
    return Cast(milliseconds, FloatField()) / Value(1000.0)


def usage_recent_seconds(owner, *, now: datetime | None = None) -> float:
    """What ``owner`` used in the fair-share window, in GPU seconds."""
    total = UsageHour.objects.filter(owner=owner, hour__gte=usage_window_start(now=now)).aggregate(
        total=Sum("milliseconds", default=0)
    )["total"]
    return total / 1000.0


# The hour a job's charge is counted in, as the triggers of migration 0016 work it out.
_LOCK_HOURS_SQL = """
SELECT u.id FROM generation_usagehour u
WHERE (u.owner_id, u.hour) IN (
    SELECT j.owner_id, date_trunc('hour', j.queued_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    FROM generation_renderjob j WHERE j.id = ANY(%s)
)
ORDER BY u.owner_id, u.hour
FOR UPDATE OF u
"""


def usage_lock_jobs(jobs) -> list:
    """Lock the jobs of the query ``jobs`` and then the usage rows their charges count in, each in a fixed
    order (jobs by id, then hours by person and hour), and return the jobs' ids. Call it in a transaction
    before an UPDATE of many jobs that moves their charges (a requeue, a revocation's cancels): the triggers
    would otherwise take the usage rows in whatever order the UPDATE meets the jobs, and two such updates
    could take the same people's rows in opposite orders and deadlock. A single job's change takes its row,
    then its hour, which is the same order. SQLite has one writer at a time: there it only reads the ids."""
    if connection.vendor != "postgresql":
        return list(jobs.order_by("pk").values_list("pk", flat=True))
    ids = list(jobs.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_HOURS_SQL, [ids])
    return ids
