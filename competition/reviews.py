"""Reviews: who reviews (a programme's reviewers, their declared conflicts, who may never judge which entry),
assigning k reviewers to each entry (competition.assignment plans it), and a reviewer's work on an
assignment: opening it, the watch time the player reports, the rubric scores, recusal; and how far a
call's reviews have got."""

from __future__ import annotations

import math
from collections import defaultdict

from allauth.account.models import EmailAddress
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from access.audit import audit
from access.models import Membership, Role, User
from access.policy import may_use_site
from competition.assignment import Plan, assign
from competition.entries import participation_credit
from competition.models import Call, ReviewAssignment, ReviewerConflict, Score, Submission
from feedback.notify import notify

MAX_PLAYBACK_RATE = 2.0  # the fastest a player may play: watched time cannot grow faster than this
WATCH_SLACK_SECONDS = 3.0


@transaction.atomic
def conflict_declare(*, reviewer, programme, email: str) -> ReviewerConflict:
    """Declare a conflict with whoever has ``email``: the same answer whether or not anyone has it, so a
    declaration reveals nothing about who is a member. Declared conflicts apply from the next assignment
    run; a reviewer who recognises a film already assigned to them recuses themselves from it instead."""
    if not is_reviewer(reviewer, programme):
        raise PermissionDenied("Only the programme's reviewers declare conflicts.")
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Give an email address, e.g. name@example.org."}) from None
    if email == reviewer.email.lower():
        raise ValidationError({"email": "Your own films are never assigned to you; no need to declare yourself."})
    conflict, _ = ReviewerConflict.objects.get_or_create(programme=programme, reviewer=reviewer, email=email)
    return conflict


def conflict_remove(*, conflict: ReviewerConflict, reviewer) -> None:
    if conflict.reviewer_id != reviewer.pk:
        raise PermissionDenied("That is not your declaration.")
    conflict.delete()


@transaction.atomic
def assignment_run(*, call: Call, actor, ip=None, at=None) -> Plan:
    """Assign k reviewers to each entry (one operation). Rerunning keeps every started review where it
    is, drops unstarted assignments that became excluded, and brings in new reviewers by moving
    unstarted assignments to them."""
    at = at or timezone.now()
    call = Call.objects.select_for_update().get(pk=call.pk)
    if not call.closed(at):
        raise ValidationError("Reviewers are assigned once submissions have closed.")
    if call.published:
        raise ValidationError("Results are published: assignments can no longer change.")
    submissions = list(call.submissions.filter(processing=Submission.Processing.READY))  # read, its clips its own
    reviewers = [r for r in reviewers_of(call.programme) if may_use_site(r)]
    if not reviewers:
        raise ValidationError("The programme has no reviewers with access: invite reviewers first.")
    current = {
        (a.submission_id, a.reviewer_id): a for a in call.assignments.exclude(state=ReviewAssignment.State.RECUSED)
    }
    locked = {pair for pair, assignment in current.items() if assignment.started}
    allowed = exclusion_rule(call, submissions, reviewers)
    plan = assign(
        submissions=[sub.pk for sub in submissions],
        reviewers=[r.pk for r in reviewers],
        k=call.reviewers_per_entry,
        allowed=allowed,
        existing=set(current),
        locked=locked,
        seed=call.pk,
    )
    ReviewAssignment.objects.filter(pk__in=[current[pair].pk for pair in plan.removed]).delete()
    ReviewAssignment.objects.bulk_create(
        [ReviewAssignment(call=call, submission_id=sub, reviewer_id=rev) for sub, rev in sorted(plan.added)]
    )
    loads = plan.loads([r.pk for r in reviewers])
    audit(
        "competition.reviewers_assigned",
        actor=actor,
        programme=call.programme,
        target=call,
        ip=ip,
        added=len(plan.added),
        removed=len(plan.removed),
        kept_started=len(locked),
        short=len(plan.short),
        load_min=min(loads.values()),
        load_max=max(loads.values()),
    )
    for reviewer_id in {rev for _, rev in plan.added}:
        reviewer = next(r for r in reviewers if r.pk == reviewer_id)
        notify(reviewer, f"New films to review in “{call.title}”.", reverse("reviews:index"))
    participation_credit(call=call, actor=actor)
    return plan


def _reviewer_check(assignment: ReviewAssignment, reviewer) -> None:
    if assignment.reviewer_id != reviewer.pk:
        raise PermissionDenied("This review is not assigned to you.")
    if assignment.state == ReviewAssignment.State.RECUSED:
        raise PermissionDenied("You recused yourself from this film.")


def review_open(*, assignment: ReviewAssignment, reviewer, at=None) -> ReviewAssignment:
    _reviewer_check(assignment, reviewer)
    if assignment.opened_at is None:
        assignment.opened_at = at or timezone.now()
        assignment.save(update_fields=["opened_at"])
    return assignment


def intervals_merge(intervals: list, duration: float) -> list[list[float]]:
    """Disjoint, sorted [start, end] ranges covering ``intervals``, each clipped to [0, duration]."""
    clipped = sorted(
        [max(0.0, float(s)), min(duration, float(e))] for s, e in intervals if min(duration, float(e)) > max(0.0, s)
    )
    merged: list[list[float]] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1] + 0.01:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [[round(s, 3), round(e, 3)] for s, e in merged]


def _ranges_check(ranges) -> list[tuple[float, float]]:
    message = "Send watched ranges as a list of [start, end] pairs of seconds."
    if not isinstance(ranges, list) or len(ranges) > 500:
        raise ValidationError(message)
    checked = []
    for pair in ranges:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ValidationError(message)
        try:
            start, end = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            raise ValidationError(message) from None
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise ValidationError(message)
        checked.append((start, end))
    return checked


@transaction.atomic
def watch_report(*, assignment: ReviewAssignment, reviewer, ranges, at=None) -> ReviewAssignment:
    """Merge the ranges the player reports into what the reviewer watched. Watched time grows only by what
    playback since the last accepted report allows: at most double speed over the wall time between the two
    reports, plus a little slack. The clock starts at the first report of playback, not when the page opened,
    so a page left open without playing earns nothing; a report of more is refused and changes nothing."""
    at = at or timezone.now()
    assignment = ReviewAssignment.objects.select_for_update().select_related("submission").get(pk=assignment.pk)
    _reviewer_check(assignment, reviewer)
    checked = _ranges_check(ranges)
    if assignment.opened_at is None:
        raise ValidationError("Open the review page before reporting what was watched.")
    if not checked:
        return assignment  # nothing played: no proof of anything, and the clock does not start
    merged = intervals_merge([*assignment.watched, *checked], assignment.submission.duration_seconds)
    total = round(sum(end - start for start, end in merged), 3)
    played_for = (at - assignment.last_watch_at).total_seconds() if assignment.last_watch_at else 0.0
    allowance = max(0.0, played_for) * MAX_PLAYBACK_RATE + WATCH_SLACK_SECONDS
    if total - assignment.watched_seconds > allowance:
        raise ValidationError(
            "The player reported more than could have been watched since its last report: play the film to "
            "count what is watched."
        )
    assignment.watched, assignment.watched_seconds, assignment.last_watch_at = merged, total, at
    assignment.save(update_fields=["watched", "watched_seconds", "last_watch_at"])
    return assignment


@transaction.atomic
def review_save(*, assignment: ReviewAssignment, reviewer, scores: dict, submit: bool, at=None) -> ReviewAssignment:
    """Save scores as a draft, or ``submit`` them (once: every criterion scored with a reason, and the
    film watched to the call's share). ``scores`` maps criterion id to (value or None, reason)."""
    at = at or timezone.now()
    assignment = ReviewAssignment.objects.select_for_update().select_related("call", "submission").get(pk=assignment.pk)
    _reviewer_check(assignment, reviewer)
    call = assignment.call
    if assignment.state == ReviewAssignment.State.SUBMITTED:
        raise ValidationError("This review is submitted; it can no longer change.")
    if call.published or at >= call.judging_ends_at:
        raise ValidationError("Judging has ended for this call.")
    criteria = {criterion.pk: criterion for criterion in call.criteria.all()}
    errors = {}
    clean = {}
    for criterion_id, criterion in criteria.items():
        value, reason = scores.get(criterion_id, (None, ""))
        reason = (reason or "").strip()
        if value is not None and not (isinstance(value, int) and 1 <= value <= criterion.scale_max):
            errors[f"score_{criterion_id}"] = f"Score {criterion.name} from 1 to {criterion.scale_max}."
        elif len(reason) > 600:
            errors[f"reason_{criterion_id}"] = "Keep the reason under 600 characters."
        elif submit and value is None:
            errors[f"score_{criterion_id}"] = f"Score {criterion.name} before submitting."
        elif submit and not reason:
            errors[f"reason_{criterion_id}"] = f"Say in a sentence why {criterion.name} scores {value}."
        clean[criterion_id] = (value, reason)
    if set(scores) - set(criteria):
        errors["__all__"] = "Scores were sent for criteria this call does not have."
    if submit and assignment.watched_share + 1e-9 < call.watch_share:
        errors["__all__"] = (
            f"Watch at least {call.watch_share:.0%} of the film before submitting "
            f"(so far {assignment.watched_share:.0%})."
        )
    if errors:
        raise ValidationError(errors)
    for criterion_id, (value, reason) in clean.items():
        Score.objects.update_or_create(
            assignment=assignment, criterion_id=criterion_id, defaults={"value": value, "reason": reason}
        )
    assignment.state = ReviewAssignment.State.SUBMITTED if submit else ReviewAssignment.State.DRAFT
    assignment.submitted_at = at if submit else None
    assignment.save(update_fields=["state", "submitted_at"])
    return assignment


@transaction.atomic
def review_recuse(*, assignment: ReviewAssignment, reviewer, reason: str) -> ReviewAssignment:
    """Step away from a film (a reviewer who recognises it); the admins reassign it on the next run."""
    _reviewer_check(assignment, reviewer)
    if assignment.state == ReviewAssignment.State.SUBMITTED:
        raise ValidationError("This review is submitted; it is too late to recuse.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why, e.g. “I know who made this film”. Only admins read it."})
    assignment.state, assignment.recuse_reason = ReviewAssignment.State.RECUSED, reason.strip()[:300]
    assignment.save(update_fields=["state", "recuse_reason"])
    assignment.scores.all().delete()
    audit(
        "competition.review_recused",
        actor=reviewer,
        programme=assignment.call.programme,
        target=assignment,
        reason=assignment.recuse_reason,
    )
    return assignment


def reviewers_of(programme) -> QuerySet[User]:
    return User.objects.filter(
        memberships__programme=programme, memberships__role=Role.REVIEWER, is_active=True
    ).distinct()


def is_reviewer(user, programme=None) -> bool:
    memberships = Membership.objects.filter(user=user, role=Role.REVIEWER)
    if programme is not None:
        memberships = memberships.filter(programme=programme)
    return user.is_authenticated and memberships.exists()


def exclusion_rule(call: Call, submissions: list[Submission], reviewers: list[User]):
    """``allowed(submission_id, reviewer_id)``: never the reviewer's own film, never a person they
    declared a conflict with, never someone who recused themselves from that entry, and (where the call
    says so) never someone sharing a cohort with the entrant."""
    entrant_of = {sub.pk: sub.entrant_id for sub in submissions}
    people = set(entrant_of.values()) | {reviewer.pk for reviewer in reviewers}
    cohorts: dict[int, set[int]] = defaultdict(set)
    for user_id, cohort_id in Membership.objects.filter(
        programme=call.programme, user__in=people, cohort__isnull=False
    ).values_list("user_id", "cohort_id"):
        cohorts[user_id].add(cohort_id)
    declared = ReviewerConflict.objects.filter(programme=call.programme, reviewer__in=[r.pk for r in reviewers])
    addresses: dict[str, set[int]] = defaultdict(set)  # every address an entrant has, to the entrant
    entrants = set(entrant_of.values())
    for user_id, email in User.objects.filter(pk__in=entrants).values_list("pk", "email"):
        addresses[email.lower()].add(user_id)
    for user_id, email in EmailAddress.objects.filter(user__in=entrants).values_list("user_id", "email"):
        addresses[email.lower()].add(user_id)
    conflicts = {
        (reviewer_id, entrant)
        for reviewer_id, email in declared.values_list("reviewer_id", "email")
        for entrant in addresses.get(email, ())
    }
    recused = set(
        ReviewAssignment.objects.filter(call=call, state=ReviewAssignment.State.RECUSED).values_list(
            "submission_id", "reviewer_id"
        )
    )

    def allowed(submission_id, reviewer_id) -> bool:
        entrant = entrant_of[submission_id]
        if entrant == reviewer_id or (reviewer_id, entrant) in conflicts or (submission_id, reviewer_id) in recused:
            return False
        return not (call.exclude_same_cohort and cohorts[entrant] & cohorts[reviewer_id])

    return allowed


def review_progress(call: Call) -> dict[str, int]:
    counts = defaultdict(int)
    for state in call.assignments.values_list("state", flat=True):
        counts[state] += 1
    return {
        "assigned": sum(counts.values()) - counts[ReviewAssignment.State.RECUSED],
        "submitted": counts[ReviewAssignment.State.SUBMITTED],
        "unfinished": counts[ReviewAssignment.State.ASSIGNED] + counts[ReviewAssignment.State.DRAFT],
        "recused": counts[ReviewAssignment.State.RECUSED],
    }


def assignments_for(reviewer) -> QuerySet[ReviewAssignment]:
    return (
        ReviewAssignment.objects.filter(reviewer=reviewer)
        .exclude(state=ReviewAssignment.State.RECUSED)
        .select_related("call", "submission")
        .filter(Q(call__results_published_at__isnull=True) | Q(state=ReviewAssignment.State.SUBMITTED))
    )
