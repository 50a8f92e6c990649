"""How a programme treats its testers: its published response targets, each report's clocks against them,
and the programme's health computed from the records (open to the programme's members)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from access.audit import audit
from access.models import Membership
from access.policy import is_programme_admin
from feedback.models import Report, ResponseTargets


def targets_for(programme) -> ResponseTargets:
    targets = ResponseTargets.objects.filter(programme=programme).first()
    return targets or ResponseTargets(programme=programme)


@transaction.atomic
def targets_publish(*, programme, actor, ip=None, **hours) -> ResponseTargets:
    if not is_programme_admin(actor, programme):
        raise PermissionDenied("Only the programme's admins publish response targets.")
    fields = ("first_response_hours", "triage_hours", "credit_hours", "payout_days")
    errors = {
        name: "A whole number from 1 to 10000."
        for name in fields
        if not isinstance(hours.get(name), int) or not 1 <= hours[name] <= 10000
    }
    if errors:
        raise ValidationError(errors)
    targets, _ = ResponseTargets.objects.update_or_create(programme=programme, defaults={k: hours[k] for k in fields})
    audit(
        "feedback.targets_published",
        actor=actor,
        programme=programme,
        target=targets,
        ip=ip,
        **{k: hours[k] for k in fields},
    )
    return targets


def is_member(user, programme) -> bool:
    return user.is_superuser or Membership.objects.filter(user=user, programme=programme).exists()


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
        ),
    ]


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
        payout
        for payout in payouts
        if timezone.localdate(payout.created_at) <= payout.period_end + timedelta(days=targets.payout_days)
    ]
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
