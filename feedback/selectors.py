"""Reads for feedback. Who may see a report is decided here, once: its reporter and the admins of its
programme. Red-team findings follow the same rule, so they never reach anyone else's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.http import Http404
from django.utils import timezone

from access.models import Membership, Role
from access.programmes import programmes_administered
from feedback.models import ClipRating, Report
from feedback.services import targets_for


def reports_visible_to(user) -> QuerySet[Report]:
    if not user.is_authenticated:
        return Report.objects.none()
    return Report.objects.filter(Q(reporter=user) | Q(programme__in=programmes_administered(user)))


def report_for(user, report_id) -> Report:
    """One report ``user`` may see, or 404 (never 403, which would confirm that it exists)."""
    report = (
        reports_visible_to(user)
        .select_related("programme", "reporter", "assignee", "harm_category", "duplicate_of", "fixed_in", "job")
        .filter(pk=report_id)
        .first()
    )
    if report is None:
        raise Http404("No such report.")
    return report


def is_member(user, programme) -> bool:
    return user.is_superuser or Membership.objects.filter(user=user, programme=programme).exists()


def own_work_note(*, programme, what: str) -> str:
    """What an admin's page says in place of crediting their own ``what`` (separation of duties, in
    feedback/ledger.py), and what a programme with one admin does: the item waits."""
    note = (
        f"This is your own {what}: another admin of {programme.name} (or the operator's superuser) decides on it; "
        "nobody credits their own work."
    )
    admins = Membership.objects.filter(programme=programme, role=Role.ADMIN).values("user").distinct().count()
    if admins < 2:
        note += " You are this programme's only admin, so it waits until a second admin is invited."
    return note


# --- Response clocks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    name: str
    target_hours: int
    started: datetime
    ended: datetime | None
    applies: bool = True

    @property
    def due_at(self) -> datetime:
        return self.started + timedelta(hours=self.target_hours)

    @property
    def hours_taken(self) -> float:
        return ((self.ended or timezone.now()) - self.started).total_seconds() / 3600

    @property
    def state(self) -> str:
        if not self.applies:
            return "n/a"
        if self.ended:
            return "met" if self.ended <= self.due_at else "missed"
        return "running" if timezone.now() <= self.due_at else "overdue"

    def describe(self) -> str:
        taken = _hours(self.hours_taken)
        if self.state == "n/a":
            return "does not apply"
        if self.state == "met":
            return f"met in {taken} (target {self.target_hours} h)"
        if self.state == "missed":
            return f"took {taken}, target {self.target_hours} h"
        left = _hours(self.target_hours - self.hours_taken)
        if self.state == "running":
            return f"{taken} so far, {left} left of {self.target_hours} h"
        return f"overdue: {taken} against a target of {self.target_hours} h"


def _hours(hours: float) -> str:
    hours = abs(hours)
    return f"{hours:.0f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def report_clocks(report: Report, targets=None) -> list[Clock]:
    targets = targets or targets_for(report.programme)
    closed_uncredited = report.state in (Report.State.DUPLICATE, Report.State.NOT_A_BUG, Report.State.WONT_FIX)
    return [
        Clock("First response", targets.first_response_hours, report.created_at, report.first_response_at),
        Clock("Triage", targets.triage_hours, report.created_at, report.triaged_at),
        Clock(
            "Credit",
            targets.credit_hours,
            report.created_at,
            report.credited_at,
            applies=report.credited_at is not None or not closed_uncredited,
        ),  # fmt: skip
    ]


# --- Feedback aggregates ---------------------------------------------------------------------------


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


# --- Programme health ----------------------------------------------------------------------------


def _week(moment: datetime) -> datetime:
    local = timezone.localtime(moment)
    start = local - timedelta(days=local.weekday())
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def _median(values: list[float]) -> float | None:
    return round(median(values), 1) if values else None


MEASURES = {"first_response": "first_response_at", "triage": "triaged_at", "credit": "credited_at"}


def programme_health(programme) -> dict:
    """How the programme treats its testers, computed from the records: median hours to first response,
    triage and credit; the share of reports acted on; payouts made within the published target."""
    targets = targets_for(programme)
    reports = list(Report.objects.filter(programme=programme).values("created_at", *MEASURES.values()))
    hours: dict[str, list[float]] = {name: [] for name in MEASURES}
    weekly: dict[str, dict[datetime, list[float]]] = {name: {} for name in MEASURES}
    acted_weekly: dict[datetime, list[int]] = {}
    for report in reports:
        week = _week(report["created_at"])
        acted_weekly.setdefault(week, []).append(1 if report["first_response_at"] else 0)
        for name, field_name in MEASURES.items():
            if report[field_name]:
                taken = (report[field_name] - report["created_at"]).total_seconds() / 3600
                hours[name].append(taken)
                weekly[name].setdefault(week, []).append(taken)
    payouts = list(programme.payouts.order_by("period_end"))
    on_time = [
        payout for payout in payouts
        if timezone.localdate(payout.created_at) <= payout.period_end + timedelta(days=targets.payout_days)
    ]  # fmt: skip
    acted = sum(1 for report in reports if report["first_response_at"])
    labels = {"first_response": "First response", "triage": "Triage", "credit": "Credit"}
    return {
        "targets": targets,
        "reports": len(reports),
        "medians": {name: _median(values) for name, values in hours.items()},
        "acted_on": acted,
        "acted_share": round(100 * acted / len(reports)) if reports else None,
        "payouts": len(payouts),
        "payouts_on_time": len(on_time),
        "payouts_share": round(100 * len(on_time) / len(payouts)) if payouts else None,
        "weekly_medians": {
            labels[name]: [(week, median(values)) for week, values in sorted(weeks.items())]
            for name, weeks in weekly.items()
        },
        "weekly_acted": {"Acted on (%)": [(week, 100 * sum(v) / len(v)) for week, v in sorted(acted_weekly.items())]},
    }
