"""Reviewer assignment: k reviewers per entry, never the reviewer's own film, a declared conflict or (when
the call says so) a cohort-mate; loads balanced; a rerun keeps started reviews and brings in new reviewers."""

import random
from collections import Counter

import pytest
from django.core.exceptions import ValidationError

from access.models import AuditEvent, Membership, Role
from access.programmes import cohort_create
from competition import reviews
from competition.assignment import assign
from competition.models import ReviewAssignment, ReviewerConflict, Submission
from tests.competition.conftest import close, make_call
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _people(programme, count, *, role, cohort=None, prefix):
    users = [UserFactory(email=f"{prefix}{i}@example.org") for i in range(count)]
    Membership.objects.bulk_create(
        [Membership(user=user, programme=programme, role=role, cohort=cohort) for user in users]
    )
    return users


@pytest.fixture
def big_call(programme, admin_user, cohort):
    """200 entries from two cohorts, 15 reviewers: three of them entrants in Wave 1 (so they review neither
    their own film nor Wave 1's), each reviewer with 12 declared conflicts."""
    wave2 = cohort_create(programme=programme, name="Wave 2")
    call = make_call(programme, admin_user, reviewers_per_entry=3, exclude_same_cohort=True)
    entrants = _people(programme, 100, role=Role.ARTIST, cohort=cohort, prefix="a")
    entrants += _people(programme, 100, role=Role.ARTIST, cohort=wave2, prefix="b")
    reviewers = _people(programme, 15, role=Role.REVIEWER, prefix="r")
    for reviewer in reviewers[:3]:
        Membership.objects.create(user=reviewer, programme=programme, role=Role.ARTIST, cohort=cohort)
        entrants[reviewers.index(reviewer)] = reviewer  # replaces a Wave 1 entrant
    Submission.objects.bulk_create(
        [
            Submission(
                call=call,
                entrant=person,
                title=f"Film {i}",
                logline="l",
                credits="c",
                file="x.mp4",
                blind_file="y.mp4",
                duration_seconds=10,
                processing=Submission.Processing.READY,
            )
            for i, person in enumerate(entrants)
        ]
    )
    rng = random.Random(7)
    ReviewerConflict.objects.bulk_create(
        [
            ReviewerConflict(programme=programme, reviewer=reviewer, email=person.email)
            for reviewer in reviewers
            for person in rng.sample(entrants, 12)
            if person != reviewer
        ]
    )
    return close(call), reviewers


def _check(call, reviewers):
    assignments = list(call.assignments.exclude(state="recused").select_related("submission__entrant"))
    per_entry = Counter(a.submission_id for a in assignments)
    assert set(per_entry.values()) == {call.reviewers_per_entry} and len(per_entry) == 200
    conflicts = set(ReviewerConflict.objects.values_list("reviewer_id", "email"))
    cohorts = {}
    for user_id, cohort_id in Membership.objects.filter(cohort__isnull=False).values_list("user_id", "cohort_id"):
        cohorts.setdefault(user_id, set()).add(cohort_id)
    for a in assignments:
        entrant = a.submission.entrant_id
        assert a.reviewer_id != entrant, "a reviewer got their own film"
        assert (a.reviewer_id, a.submission.entrant.email) not in conflicts, "a reviewer got a conflicted film"
        assert not cohorts.get(a.reviewer_id, set()) & cohorts.get(entrant, set()), "a cohort-mate's film"
    loads = Counter(a.reviewer_id for a in assignments)
    assert set(loads) == {r.pk for r in reviewers}
    return loads


def test_200_entries_and_15_reviewers_with_conflicts_are_balanced(big_call, admin_user):
    call, reviewers = big_call
    plan = reviews.assignment_run(call=call, actor=admin_user)
    assert not plan.short
    loads = _check(call, reviewers)
    assert max(loads.values()) - min(loads.values()) <= 1 and sum(loads.values()) == 600
    event = AuditEvent.objects.get(action="competition.reviewers_assigned")
    assert event.data["added"] == 600 and event.data["load_max"] - event.data["load_min"] <= 1


def test_a_rerun_keeps_started_reviews_and_brings_in_new_reviewers(big_call, admin_user, programme):
    call, reviewers = big_call
    reviews.assignment_run(call=call, actor=admin_user)
    finished = list(call.assignments.order_by("pk")[::7])
    ReviewAssignment.objects.filter(pk__in=[a.pk for a in finished]).update(state="submitted", watched_seconds=10)
    newcomers = _people(programme, 2, role=Role.REVIEWER, prefix="new")

    plan = reviews.assignment_run(call=call, actor=admin_user)

    kept = ReviewAssignment.objects.filter(pk__in=[a.pk for a in finished])
    assert sorted(kept.values_list("pk", "submission_id", "reviewer_id", "state")) == sorted(
        (a.pk, a.submission_id, a.reviewer_id, "submitted") for a in finished
    )
    loads = _check(call, reviewers + newcomers)
    assert max(loads.values()) - min(loads.values()) <= 1
    assert len(plan.added) == len(plan.removed) > 0
    # Running again changes nothing.
    again = reviews.assignment_run(call=call, actor=admin_user)
    assert not again.added and not again.removed


def test_assignment_waits_for_the_close(call, admin_user, reviewer):
    with pytest.raises(ValidationError, match="once submissions have closed"):
        reviews.assignment_run(call=call, actor=admin_user)


def test_an_entry_with_too_few_allowed_reviewers_is_reported_short():
    plan = assign(submissions=[1, 2], reviewers=["a", "b"], k=2, allowed=lambda s, r: not (s == 1 and r == "a"))
    assert plan.short == {1: 1}
    assert plan.pairs == {(1, "b"), (2, "a"), (2, "b")}


def test_locked_pairs_stay_even_when_now_excluded():
    plan = assign(
        submissions=[1],
        reviewers=["a", "b"],
        k=1,
        allowed=lambda s, r: r == "b",
        existing={(1, "a")},
        locked={(1, "a")},
    )
    assert plan.pairs == {(1, "a")} and not plan.removed
