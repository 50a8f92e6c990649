"""Clip ratings: a tester rates their own finished clips; an admin accepts (credited once) or declines;
the averages per model and version, per week, for the charts and the CSV export."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from access.audit import audit
from access.policy import is_programme_admin
from feedback.clips import job_programme, own_job_check
from feedback.ledger import ledger_credit, own_work_refuse
from feedback.model_versions import model_version_at
from feedback.models import ClipRating, LedgerEntry
from generation.models import RenderJob

MAX_TAGS = 10


def _clean_tags(tags) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = sorted({str(tag).strip().lower()[:30] for tag in tags or [] if str(tag).strip()})
    if len(cleaned) > MAX_TAGS:
        raise ValidationError({"tags": f"Use at most {MAX_TAGS} tags."})
    return cleaned


@transaction.atomic
def rating_save(*, job: RenderJob, author, comment: str = "", tags=(), **scores) -> ClipRating:
    """Rate one of the author's own finished clips; a rating not yet reviewed can be changed."""
    own_job_check(job, author)
    errors = {}
    if job.state != RenderJob.State.SUCCEEDED:
        errors["__all__"] = "Only finished clips can be rated."
    for score in ClipRating.SCORES:
        value = scores.get(score)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            errors[score] = "Rate from 1 to 5."
    unknown = set(scores) - set(ClipRating.SCORES)
    if unknown:
        errors["__all__"] = f"Unknown scores: {', '.join(sorted(unknown))}."
    if len(comment) > 5000:
        errors["comment"] = "Comments are at most 5000 characters."
    try:
        tags = _clean_tags(tags)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    rating = ClipRating.objects.select_for_update().filter(job=job, author=author).first()
    if rating is not None and rating.state != ClipRating.State.PENDING:
        raise ValidationError("This rating has been reviewed already and can no longer be changed.")
    programme = job_programme(job)
    values = {**{score: scores[score] for score in ClipRating.SCORES}, "comment": comment.strip(), "tags": tags}
    if rating is None:
        rating = ClipRating.objects.create(
            job=job,
            author=author,
            programme=programme,
            model_key=job.model_key,
            model_version=model_version_at(programme, job.model_key, job.queued_at),
            **values,
        )
    else:
        for name, value in values.items():
            setattr(rating, name, value)
        rating.save(update_fields=[*values, "updated_at"])
    return rating


@transaction.atomic
def rating_decide(*, rating: ClipRating, accept: bool, actor, ip=None) -> ClipRating:
    """Accept (credited once) or decline a rating. A decision can be changed; the credit never repeats."""
    rating = ClipRating.objects.select_for_update().select_related("programme", "job").get(pk=rating.pk)
    if not is_programme_admin(actor, rating.programme):
        raise PermissionDenied("Only the programme's admins review feedback.")
    if accept:
        own_work_refuse(actor=actor, person=rating.author, what="accept your own feedback")
    state = ClipRating.State.ACCEPTED if accept else ClipRating.State.REJECTED
    if rating.state != state:
        rating.state, rating.decided_at = state, timezone.now()
        rating.save(update_fields=["state", "decided_at", "updated_at"])
        audit(
            "feedback.rating_decided",
            actor=actor,
            subject=rating.author,
            programme=rating.programme,
            target=rating,
            ip=ip,
            state=state,
        )
    if accept:
        ledger_credit(
            person=rating.author,
            programme=rating.programme,
            kind=LedgerEntry.Kind.FEEDBACK,
            source=rating,
            reason=f"Feedback on clip {rating.job.short_id} accepted",
            actor=actor,
        )
    return rating


SCORE_AVERAGES = {f"avg_{score}": Avg(score) for score in ClipRating.SCORES}


def rating_aggregates(programme, *, since=None) -> list[dict]:
    """Average scores per model and model version, with counts."""
    ratings = ClipRating.objects.filter(programme=programme)
    if since:
        ratings = ratings.filter(created_at__gte=since)
    return list(
        ratings.values("model_key", "model_version__version")
        .annotate(count=Count("pk"), accepted=Count("pk", filter=Q(state="accepted")), **SCORE_AVERAGES)
        .order_by("model_key", "model_version__version")
    )


def rating_weekly(programme, *, score: str = "visual_quality") -> dict[str, list[tuple[datetime, float]]]:
    """For each model (and version), the weekly average of one score: the series of a chart."""
    rows = (
        ClipRating.objects.filter(programme=programme)
        .annotate(week=TruncWeek("created_at"))
        .values("model_key", "model_version__version", "week")
        .annotate(value=Avg(score))
        .order_by("week")
    )
    series: dict[str, list[tuple[datetime, float]]] = {}
    for row in rows:
        label = row["model_key"] + (f" {row['model_version__version']}" if row["model_version__version"] else "")
        series.setdefault(label, []).append((row["week"], float(row["value"])))
    return series


def rating_weekly_rows(programme) -> list[dict]:
    """Averages per week, model and model version: the rows of the CSV export."""
    return list(
        ClipRating.objects.filter(programme=programme)
        .annotate(week=TruncWeek("created_at"))
        .values("week", "model_key", "model_version__version")
        .annotate(count=Count("pk"), accepted=Count("pk", filter=Q(state="accepted")), **SCORE_AVERAGES)
        .order_by("week", "model_key", "model_version__version")
    )
