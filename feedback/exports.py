"""A person's feedback, reports, findings and ledger, as sections of their data export (access/export.py)."""

from __future__ import annotations

from access.export import section, when
from core.csv_export import csv_text
from feedback.models import ClipRating, LedgerEntry, Report, ShowcaseOffer

RATING_FIELDS = ["job", "model_key", "model_version", *ClipRating.SCORES, "comment", "tags", "state", "created_at"]
REPORT_FIELDS = [
    "id",
    "kind",
    "title",
    "severity",
    "state",
    "harm_category",
    "job",
    "model_key",
    "model_version",
    "steps",
    "expected",
    "actual",
    "prompt",
    "outcome",
    "page_url",
    "credit_name",
    "duplicate_of",
    "fixed_in",
    "created_at",
    "first_response_at",
    "triaged_at",
    "credited_at",
]
LEDGER_FIELDS = ["id", "created_at", "programme", "kind", "reason", "severity", "rate", "points", "amount", "currency"]
SHOWCASE_FIELDS = ["job", "credit_name", "offered_at", "revoked_at", "use", "used_at", "description"]


@section("ratings.csv", "Your ratings of your clips: scores, comment, tags, whether accepted.")
def ratings_csv(user) -> str:
    rows = []
    for rating in ClipRating.objects.filter(author=user).select_related("model_version").order_by("created_at"):
        rows.append(
            {
                "job": str(rating.job_id),
                "model_key": rating.model_key,
                "model_version": rating.model_version.version if rating.model_version else "",
                **{score: getattr(rating, score) for score in ClipRating.SCORES},
                "comment": rating.comment,
                "tags": ",".join(rating.tags),
                "state": rating.state,
                "created_at": when(rating.created_at),
            }
        )
    return csv_text(RATING_FIELDS, rows)


def _reports_csv(user, kind: str) -> str:
    rows = []
    reports = Report.objects.filter(reporter=user, kind=kind).select_related(
        "harm_category", "model_version", "fixed_in"
    )
    for report in reports.order_by("created_at"):
        row = {field: getattr(report, field) for field in REPORT_FIELDS if not field.endswith("_at")}
        row |= {field: when(getattr(report, field)) for field in REPORT_FIELDS if field.endswith("_at")}
        row |= {
            "harm_category": report.harm_category.name if report.harm_category else "",
            "job": str(report.job_id) if report.job_id else "",
            "model_version": report.model_version.version if report.model_version else "",
            "duplicate_of": report.duplicate_of_id or "",
            "fixed_in": str(report.fixed_in) if report.fixed_in else "",
        }
        rows.append(row)
    return csv_text(REPORT_FIELDS, rows)


@section("bug_reports.csv", "Your bug reports: what you wrote, their state and response times.")
def bug_reports_csv(user) -> str:
    return _reports_csv(user, Report.Kind.BUG)


@section("findings.csv", "Your red-team findings (confidential: only you and the programme's admins see them).")
def findings_csv(user) -> str:
    return _reports_csv(user, Report.Kind.FINDING)


@section("ledger.csv", "Every entry in your contribution ledger: credits, corrections and payouts.")
def ledger_csv(user) -> str:
    rows = [
        {
            "id": entry.pk,
            "created_at": when(entry.created_at),
            "programme": entry.programme.name,
            "kind": entry.kind,
            "reason": entry.reason,
            "severity": entry.severity,
            "rate": str(entry.rate) if entry.rate else "",
            "points": entry.points,
            "amount": entry.amount,
            "currency": entry.currency,
        }
        for entry in LedgerEntry.objects.filter(person=user).select_related("programme", "rate")
    ]
    return csv_text(LEDGER_FIELDS, rows)


@section("showcase.csv", "Clips you offered for showcase use, and each use made of them.")
def showcase_csv(user) -> str:
    rows = []
    for offer in ShowcaseOffer.objects.filter(artist=user).prefetch_related("uses").order_by("offered_at"):
        base = {
            "job": str(offer.job_id),
            "credit_name": offer.credit_name,
            "offered_at": when(offer.offered_at),
            "revoked_at": when(offer.revoked_at),
        }
        uses = list(offer.uses.all())
        rows += [
            base | {"use": use.kind, "used_at": when(use.used_at), "description": use.description} for use in uses
        ] or [base | {"use": None, "used_at": None, "description": None}]
    return csv_text(SHOWCASE_FIELDS, rows)
