"""Reads for the competition: who may enter, who may review what, and the ranking of a call."""

from __future__ import annotations

from collections import defaultdict

from allauth.account.models import EmailAddress
from django.db.models import Q, QuerySet

from access.models import Membership, Role, User
from access.policy import Decision, is_programme_admin, may_use_site
from competition import scoring
from competition.models import Call, ReviewAssignment, ReviewerConflict, Score, Submission


def may_enter(user, call: Call) -> Decision:
    """May ``user`` enter ``call``: a member of its programme in an eligible role and cohort, with access."""
    decision = may_use_site(user)
    if not decision:
        return decision
    memberships = Membership.objects.filter(user=user, programme=call.programme, role__in=call.eligible_roles)
    cohorts = list(call.eligible_cohorts.all())
    if cohorts:
        memberships = memberships.filter(cohort__in=cohorts)
    if not memberships.exists():
        return Decision(False, "This call is not open to your role or cohort.")
    return Decision(True)


def may_see_call(user, call: Call) -> bool:
    """Admins see every call of their programme; eligible testers and entrants see announced ones."""
    if is_programme_admin(user, call.programme):
        return True
    if not call.announced_at:
        return False
    return bool(may_enter(user, call)) or Submission.objects.filter(call=call, entrant=user).exists()


def calls_for(user) -> list[Call]:
    calls = Call.objects.filter(programme__memberships__user=user).distinct().select_related("programme")
    return [call for call in calls.prefetch_related("eligible_cohorts") if may_see_call(user, call)]


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
