"""Results: a call's ranking from its submitted reviews (competition.scoring computes it), publishing it
with winners credited the `prize` rate, and entrants' appeals against their scores and the admins' answers."""

from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from access.audit import audit
from access.models import Role
from competition import scoring
from competition.entries import participation_credit
from competition.models import (
    Appeal,
    Call,
    ReviewAssignment,
    Score,
    Submission,
)
from competition.reviews import review_progress
from feedback.ledger import ledger_credit
from feedback.models import LedgerEntry
from feedback.notify import notify


@transaction.atomic
def results_publish(*, call: Call, actor, allow_unfinished: bool = False, ip=None) -> list:
    """Publish the ranking as the admins reviewed it: ranks and scores are written onto the entries and
    never recomputed; winners are credited the prize rate, every entry its participation."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.published:
        raise ValidationError("Results are already published.")
    if not call.closed():
        raise ValidationError("Submissions are still open.")
    progress = review_progress(call)
    if progress["unfinished"] and not allow_unfinished:
        raise ValidationError(
            f"{progress['unfinished']} reviews are unfinished. Wait for them, or publish without them "
            "(they are then left out of the ranking, and the audit trail says so)."
        )
    ranked = ranking(call)
    if not ranked:
        raise ValidationError("No entry has a submitted review yet: there is nothing to rank.")
    entries = {sub.pk: sub for sub in call.submissions.select_related("entrant")}
    for entry in ranked:
        submission = entries[entry.submission]
        submission.rank, submission.score = entry.rank, round(entry.score, 6)
        submission.winner = entry.rank <= call.winners_count
        submission.save(update_fields=["rank", "score", "winner"])
    call.results_published_at = timezone.now()
    call.save(update_fields=["results_published_at"])
    participation_credit(call=call, actor=actor)
    for entry in ranked[: call.winners_count]:
        submission = entries[entry.submission]
        ledger_credit(
            person=submission.entrant,
            programme=call.programme,
            kind=LedgerEntry.Kind.PRIZE,
            source=submission,
            reason=f"Prize: rank {entry.rank} in {call.title[:80]} for “{submission.title[:80]}”",
            actor=actor,
        )
    for submission in entries.values():
        notify(submission.entrant, f"Results of “{call.title}” are published.", call.get_absolute_url())
    audit(
        "competition.results_published",
        actor=actor,
        programme=call.programme,
        target=call,
        ip=ip,
        ranked=len(ranked),
        unranked=len(entries) - len(ranked),
        unfinished_reviews=progress["unfinished"],
        winners=[entry.submission for entry in ranked[: call.winners_count]],
    )
    return ranked


@transaction.atomic
def appeal_file(*, submission: Submission, entrant, text: str, at=None) -> Appeal:
    at = at or timezone.now()
    if submission.entrant_id != entrant.pk:
        raise PermissionDenied("Only the entrant may appeal their result.")
    call = Call.objects.select_related("programme").get(pk=submission.call_id)
    if not call.published:
        raise ValidationError("Appeals open when results are published.")
    if at >= call.appeals_close_at():
        raise ValidationError(f"Appeals closed on {timezone.localtime(call.appeals_close_at()):%Y-%m-%d %H:%M}.")
    if Appeal.objects.filter(submission=submission).exists():
        raise ValidationError("You have already appealed this result.")
    if not text.strip() or len(text) > 5000:
        raise ValidationError({"text": "Say what you appeal and why, in up to 5000 characters."})
    appeal = Appeal.objects.create(submission=submission, text=text.strip())
    for admin in call.programme.memberships.filter(role=Role.ADMIN).select_related("user"):
        notify(
            admin.user,
            f"An appeal on “{call.title}” awaits an answer.",
            reverse("competition_manage:call", args=[call.programme.slug, call.pk]),
        )
    return appeal


@transaction.atomic
def appeal_answer(*, appeal: Appeal, actor, answer: str, outcome: str, ip=None) -> Appeal:
    if appeal.answered_at:
        raise ValidationError("This appeal has been answered.")
    if outcome not in Appeal.Outcome.values:
        raise ValidationError({"outcome": "Choose upheld or dismissed."})
    if not answer.strip():
        raise ValidationError({"answer": "Answer the appeal in words: the entrant reads it."})
    appeal.answer, appeal.outcome, appeal.answered_by = answer.strip(), outcome, actor
    appeal.answered_at = timezone.now()
    appeal.save()
    call = appeal.submission.call
    audit(
        "competition.appeal_answered",
        actor=actor,
        subject=appeal.submission.entrant,
        programme=call.programme,
        target=appeal,
        ip=ip,
        reason=appeal.answer,
        outcome=outcome,
    )
    notify(
        appeal.submission.entrant,
        f"Your appeal on “{call.title}” was {appeal.get_outcome_display().lower()}.",
        call.get_absolute_url(),
    )
    return appeal


def submitted_reviews(call: Call) -> list[scoring.Review]:
    scores: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    for sub_id, reviewer_id, criterion_id, value in Score.objects.filter(
        assignment__call=call, assignment__state=ReviewAssignment.State.SUBMITTED, value__isnull=False
    ).values_list("assignment__submission_id", "assignment__reviewer_id", "criterion_id", "value"):
        scores[(sub_id, reviewer_id)][criterion_id] = value
    return [scoring.Review(submission=s, reviewer=r, scores=values) for (s, r), values in scores.items()]


def ranking(call: Call) -> list[scoring.EntryResult]:
    criteria = {c.pk: scoring.CriterionSpec(weight=c.weight, scale_max=c.scale_max) for c in call.criteria.all()}
    if not criteria:
        return []
    submitted_at = dict(call.submissions.values_list("pk", "submitted_at"))
    return scoring.rank(submitted_reviews(call), criteria, submitted_at)
