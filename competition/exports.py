"""A person's competition entries, the scores they received and their appeals, as sections of their data
export (access/export.py). Scores and ranks appear once a call's results are published, as on the call's
page, and reviewers only as letters: an entrant never learns who judged them."""

from __future__ import annotations

from access.export import section, when
from competition.models import Appeal, ReviewAssignment, Score, Submission
from core.csv_export import csv_text

ENTRY_FIELDS = [
    "id",
    "call",
    "programme",
    "title",
    "logline",
    "credits",
    "submitted_at",
    "updated_at",
    "duration_seconds",
    "width",
    "height",
    "file_bytes",
    "clips_listed",
    "results_published_at",
    "rank",
    "score",
    "winner",
]
SCORE_FIELDS = ["entry", "call", "reviewer", "criterion", "score", "scale_max", "reason"]
APPEAL_FIELDS = ["entry", "call", "text", "created_at", "outcome", "answer", "answered_at"]


@section(
    "competition_entries.csv",
    "Your films entered in calls: title, logline, credits, film details and, once results are out, rank and score.",
)
def entries_csv(user) -> str:
    entries = Submission.objects.filter(entrant=user).select_related("call__programme").order_by("submitted_at")
    rows = []
    for entry in entries.prefetch_related("listed_jobs"):
        published = entry.call.published
        rows.append(
            {
                "id": entry.pk,
                "call": entry.call.title,
                "programme": entry.call.programme.name,
                "title": entry.title,
                "logline": entry.logline,
                "credits": entry.credits,
                "submitted_at": when(entry.submitted_at),
                "updated_at": when(entry.updated_at),
                "duration_seconds": entry.duration_seconds,
                "width": entry.width,
                "height": entry.height,
                "file_bytes": entry.file_bytes,
                "clips_listed": len(entry.listed_jobs.all()),
                "results_published_at": when(entry.call.results_published_at),
                "rank": entry.rank if published else None,
                "score": entry.score if published else None,
                "winner": entry.winner if published else None,
            }
        )
    return csv_text(ENTRY_FIELDS, rows)


@section(
    "competition_scores.csv",
    "The scores your entries received, per reviewer (A, B, ...) and criterion, with reasons; after results only.",
)
def scores_csv(user) -> str:
    submitted = ReviewAssignment.objects.filter(
        submission__entrant=user,
        submission__call__results_published_at__isnull=False,
        state=ReviewAssignment.State.SUBMITTED,
    ).order_by("submission_id", "pk")
    letters, counts = {}, {}
    for assignment_id, submission_id in submitted.values_list("pk", "submission_id"):
        letters[assignment_id] = chr(ord("A") + counts.get(submission_id, 0))
        counts[submission_id] = counts.get(submission_id, 0) + 1
    scores = Score.objects.filter(assignment__in=list(letters)).select_related(
        "criterion", "assignment__submission__call"
    )
    rows = [
        {
            "entry": score.assignment.submission.title,
            "call": score.assignment.submission.call.title,
            "reviewer": letters[score.assignment_id],
            "criterion": score.criterion.name,
            "score": score.value,
            "scale_max": score.criterion.scale_max,
            "reason": score.reason,
        }
        for score in scores.order_by(
            "assignment__submission_id", "criterion__position", "criterion_id", "assignment_id"
        )
    ]
    return csv_text(SCORE_FIELDS, rows)


@section("competition_appeals.csv", "Your appeals against results, with the answer and outcome once decided.")
def appeals_csv(user) -> str:
    appeals = Appeal.objects.filter(submission__entrant=user).select_related("submission__call")
    rows = [
        {
            "entry": appeal.submission.title,
            "call": appeal.submission.call.title,
            "text": appeal.text,
            "created_at": when(appeal.created_at),
            "outcome": appeal.outcome,
            "answer": appeal.answer,
            "answered_at": when(appeal.answered_at),
        }
        for appeal in appeals.order_by("created_at")
    ]
    return csv_text(APPEAL_FIELDS, rows)
