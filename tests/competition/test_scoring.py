"""Normalisation and ranking on a data set computed by hand (docstrings show the arithmetic)."""

import math
from datetime import UTC, datetime

import pytest

from competition.scoring import CriterionSpec, Review, normalise, rank, reviewer_agreement

STORY, CRAFT = 1, 2
CRITERIA = {STORY: CriterionSpec(weight=2, scale_max=5), CRAFT: CriterionSpec(weight=1, scale_max=5)}
HARSH, GENEROUS = 10, 20
F1, F2, F3 = 101, 102, 103
S = math.sqrt(1.5)  # 1 / population std of (-1, 0, 1)


def reviews(shift=0):
    """HARSH: Story 1, 2, 3 (mean 2, std sqrt(2/3)); Craft 2, 2, 2 (std 0: z = 0).
    GENEROUS: Story 5, 3, 4 (mean 4); Craft 5, 4, 3 (mean 4)."""
    return [
        Review(F1, HARSH, {STORY: 1 + shift, CRAFT: 2}),
        Review(F2, HARSH, {STORY: 2 + shift, CRAFT: 2}),
        Review(F3, HARSH, {STORY: 3 + shift, CRAFT: 2}),
        Review(F1, GENEROUS, {STORY: 5, CRAFT: 5}),
        Review(F2, GENEROUS, {STORY: 3, CRAFT: 4}),
        Review(F3, GENEROUS, {STORY: 4, CRAFT: 3}),
    ]


def test_z_scores_are_within_each_reviewers_own_scores_per_criterion():
    zs = normalise(reviews())
    assert zs[(F1, HARSH)] == pytest.approx({STORY: -S, CRAFT: 0.0})
    assert zs[(F3, HARSH)] == pytest.approx({STORY: S, CRAFT: 0.0})
    assert zs[(F1, GENEROUS)] == pytest.approx({STORY: S, CRAFT: S})
    assert zs[(F2, GENEROUS)] == pytest.approx({STORY: -S, CRAFT: 0.0})


def test_the_known_data_set_ranks_as_computed_by_hand():
    """Combined (weights 2 and 1, so / 3): HARSH F1 -2S/3, F2 0, F3 2S/3; GENEROUS F1 S, F2 -2S/3, F3 -S/3.
    Means: F1 = S/6, F2 = -S/3, F3 = S/6: F1 and F3 tie. Raw (each score as (v-1)/4, weighted): F1 = (1/12 + 1)/2
    = 13/24 and F3 = (5/12 + 2/3)/2 = 13/24: tie again. Spread: F1 |(-2S/3) - S|/2 = 5S/6, F3 |2S/3 + S/3|/2 = S/2;
    F3 agrees better and ranks first."""
    ranked = rank(reviews(), CRITERIA)
    assert [entry.submission for entry in ranked] == [F3, F1, F2]
    assert [entry.rank for entry in ranked] == [1, 2, 3]
    by_id = {entry.submission: entry for entry in ranked}
    assert by_id[F1].score == pytest.approx(S / 6) and by_id[F3].score == pytest.approx(S / 6)
    assert by_id[F2].score == pytest.approx(-S / 3)
    assert by_id[F1].raw == pytest.approx(13 / 24) and by_id[F3].raw == pytest.approx(13 / 24)
    assert by_id[F1].spread == pytest.approx(5 * S / 6) and by_id[F3].spread == pytest.approx(S / 2)
    assert by_id[F2].raw == pytest.approx((0.25 + 1.75 / 3) / 2)
    assert by_id[F1].combined == pytest.approx({HARSH: -2 * S / 3, GENEROUS: S})
    assert by_id[F1].criterion_mean == pytest.approx({STORY: 3.0, CRAFT: 3.5})


def test_a_harsh_reviewer_counts_like_a_generous_one():
    """Raising every Story score HARSH gave by one point changes no z-score and so no rank."""
    assert [e.submission for e in rank(reviews(shift=1), CRITERIA)] == [e.submission for e in rank(reviews(), CRITERIA)]
    shifted, plain = normalise(reviews(shift=1)), normalise(reviews())
    assert all(shifted[key] == pytest.approx(plain[key]) for key in plain)


def test_later_ties_go_to_the_entry_submitted_first_then_the_lower_number():
    same = [Review(F1, HARSH, {STORY: 3, CRAFT: 3}), Review(F2, HARSH, {STORY: 3, CRAFT: 3})]
    early, late = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    assert [e.submission for e in rank(same, CRITERIA, {F1: late, F2: early})] == [F2, F1]
    assert [e.submission for e in rank(same, CRITERIA)] == [F1, F2]


def test_agreement_is_each_reviewers_distance_from_the_consensus():
    ranked = rank(reviews(), CRITERIA)
    agreement = reviewer_agreement(ranked)
    # Both reviewers sit symmetrically about each entry's mean, so their distances are equal: the spreads.
    expected = (5 * S / 6 + S / 3 + S / 2) / 3
    assert agreement[HARSH] == pytest.approx(expected) and agreement[GENEROUS] == pytest.approx(expected)
