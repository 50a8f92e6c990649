"""A person's clips: the jobs they may see (their own, never deleted ones), filtered and searched, a page
at a time by a (queued_at, id) keyset. The gallery page, its API list and feedback's clip pages read them here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core import signing
from django.db.models import Exists, OuterRef, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone

from generation.models import Favourite, RenderJob

CURSOR_SALT = "generation.gallery-cursor"
OLDER, NEWER = "older", "newer"


def jobs_for(user):
    """The jobs ``user`` may see: their own, nobody else's, and none they deleted."""
    return RenderJob.objects.filter(owner=user, deleted_at__isnull=True)


def job_for(user, job_id) -> RenderJob:
    """One of ``user``'s jobs, or 404 (never 403, which would confirm the job exists)."""
    return get_object_or_404(jobs_for(user), pk=job_id)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def jobs_filter(
    jobs,
    *,
    state: str = "",
    model_key: str = "",
    since: date | None = None,
    until: date | None = None,
    q: str = "",
    favourites: bool = False,
):
    """``jobs`` narrowed to one state, one model, queued from ``since`` to ``until`` (whole days,
    local time, both included), with ``q`` in the prompt, and to the owner's favourites."""
    if state:
        jobs = jobs.filter(state=state)
    if model_key:
        jobs = jobs.filter(model_key=model_key)
    if since:
        jobs = jobs.filter(queued_at__gte=_day_start(since))
    if until:
        jobs = jobs.filter(queued_at__lt=_day_start(until + timedelta(days=1)))
    if q.strip():
        jobs = jobs.filter(prompt__icontains=q.strip())
    if favourites:
        jobs = jobs.filter(Exists(Favourite.objects.filter(job=OuterRef("pk"), owner=OuterRef("owner"))))
    return jobs


class BadCursor(ValueError):
    pass


def cursor_encode(job: RenderJob, direction: str) -> str:
    return signing.dumps({"t": job.queued_at.isoformat(), "id": job.pk.hex, "d": direction}, salt=CURSOR_SALT)


def cursor_decode(cursor: str) -> tuple[datetime, str, str]:
    try:
        claims = signing.loads(cursor, salt=CURSOR_SALT)
        at = datetime.fromisoformat(claims["t"])
        direction = claims["d"]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadCursor("This page link is not valid; start again from the newest clips.") from None
    if direction not in (OLDER, NEWER):
        raise BadCursor("This page link is not valid; start again from the newest clips.")
    return at, claims["id"], direction


@dataclass(frozen=True)
class KeysetPage:
    jobs: list[RenderJob]
    newer: str | None  # cursor of the page before this one, None on the first page
    older: str | None  # cursor of the next page, None on the last


def keyset_page(jobs, *, cursor: str = "", size: int = 24) -> KeysetPage:
    """One page of ``jobs``, newest first, after (or before) the job a cursor names. Pages are cut
    at a (queued_at, id) position, not at an offset, so new clips arriving between two requests
    neither repeat nor skip a clip; each page costs one query whatever its depth. Raises BadCursor."""
    if not cursor:
        rows = list(jobs.order_by("-queued_at", "-pk")[: size + 1])
        return KeysetPage(rows[:size], None, cursor_encode(rows[size - 1], OLDER) if len(rows) > size else None)
    at, pk, direction = cursor_decode(cursor)
    if direction == OLDER:
        rows = list(
            jobs.filter(Q(queued_at__lt=at) | Q(queued_at=at, pk__lt=pk)).order_by("-queued_at", "-pk")[: size + 1]
        )
        page = rows[:size]
        older = cursor_encode(page[-1], OLDER) if len(rows) > size else None
        return KeysetPage(page, cursor_encode(page[0], NEWER) if page else None, older)
    rows = list(jobs.filter(Q(queued_at__gt=at) | Q(queued_at=at, pk__gt=pk)).order_by("queued_at", "pk")[: size + 1])
    page = rows[:size][::-1]
    newer = cursor_encode(page[0], NEWER) if len(rows) > size else None
    return KeysetPage(page, newer, cursor_encode(page[-1], OLDER) if page else None)
