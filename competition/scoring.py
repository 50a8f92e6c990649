"""Ranking entries from reviewers' scores, so that a harsh and a generous reviewer count alike.

The method, as published on every results page:

1. Each reviewer's scores are normalised per criterion: z = (score − the reviewer's mean for that
   criterion) / the reviewer's standard deviation for it (population), over every entry the reviewer
   scored in the call. A reviewer who gave every entry the same score on a criterion (or scored one
   entry) contributes z = 0 there: they told entries apart by nothing.
2. A review's combined score is the rubric-weighted mean of its z-scores: Σ wᶜ·zᶜ / Σ wᶜ.
3. An entry's score is the mean of its reviews' combined scores.
4. Entries are ranked by score, highest first. Ties are broken, in order, by: the higher mean raw score
   (each criterion scaled to 0–1, weighted the same way); then the smaller spread between reviewers
   (more agreement); then the entry submitted first; then the lower entry number.

A pure module: competition/results.py feeds it the submitted reviews.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

# The method as entrants and the public read it: the module's description, up to its note for developers.
METHOD = __doc__.split("A pure module")[0].strip()


@dataclass(frozen=True)
class Review:
    submission: int
    reviewer: int
    scores: dict[int, int]  # criterion id -> score


@dataclass(frozen=True)
class CriterionSpec:
    weight: float
    scale_max: int


@dataclass
class EntryResult:
    submission: int
    score: float  # mean combined z
    raw: float  # mean weighted raw score, 0-1
    spread: float  # population standard deviation of the reviews' combined z
    reviews: int
    submitted_at: datetime | None
    combined: dict[int, float] = field(default_factory=dict)  # reviewer -> combined z of their review
    criterion_z: dict[int, float] = field(default_factory=dict)  # criterion -> mean z over reviewers
    criterion_mean: dict[int, float] = field(default_factory=dict)  # criterion -> mean raw score
    rank: int = 0


def _pstdev(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def normalise(reviews: list[Review]) -> dict[tuple[int, int], dict[int, float]]:
    """(submission, reviewer) -> criterion -> z, within each reviewer's own scores of each criterion."""
    per_reviewer: dict[tuple[int, int], list[int]] = defaultdict(list)
    for review in reviews:
        for criterion, value in review.scores.items():
            per_reviewer[(review.reviewer, criterion)].append(value)
    stats = {key: (statistics.fmean(values), _pstdev(values)) for key, values in per_reviewer.items()}
    result = {}
    for review in reviews:
        zs = {}
        for criterion, value in review.scores.items():
            mean, spread = stats[(review.reviewer, criterion)]
            zs[criterion] = (value - mean) / spread if spread > 0 else 0.0
        result[(review.submission, review.reviewer)] = zs
    return result


def rank(
    reviews: list[Review], criteria: dict[int, CriterionSpec], submitted_at: dict[int, datetime] | None = None
) -> list[EntryResult]:
    """Every reviewed entry with its score and rank (1 = best), best first, ties broken as documented."""
    submitted_at = submitted_at or {}
    total_weight = sum(spec.weight for spec in criteria.values())
    zs = normalise(reviews)
    by_entry: dict[int, list[Review]] = defaultdict(list)
    for review in reviews:
        by_entry[review.submission].append(review)
    results = []
    for submission, entry_reviews in by_entry.items():
        combined, raws = {}, []
        for review in entry_reviews:
            z = zs[(submission, review.reviewer)]
            combined[review.reviewer] = sum(criteria[c].weight * z[c] for c in z) / total_weight
            raws.append(
                sum(criteria[c].weight * (v - 1) / max(1, criteria[c].scale_max - 1) for c, v in review.scores.items())
                / total_weight
            )
        results.append(
            EntryResult(
                submission=submission,
                score=statistics.fmean(combined.values()),
                raw=statistics.fmean(raws),
                spread=_pstdev(list(combined.values())),
                reviews=len(entry_reviews),
                submitted_at=submitted_at.get(submission),
                combined=combined,
                criterion_z={
                    c: statistics.fmean(zs[(submission, r.reviewer)][c] for r in entry_reviews) for c in criteria
                },
                criterion_mean={c: statistics.fmean(r.scores[c] for r in entry_reviews) for c in criteria},
            )
        )
    far_future = datetime.max.replace(tzinfo=None)
    results.sort(
        key=lambda entry: (
            -round(entry.score, 9),
            -round(entry.raw, 9),
            round(entry.spread, 9),
            (entry.submitted_at.replace(tzinfo=None) if entry.submitted_at else far_future),
            entry.submission,
        )
    )
    for position, entry in enumerate(results, start=1):
        entry.rank = position
    return results


def reviewer_agreement(results: list[EntryResult]) -> dict[int, float]:
    """Reviewer -> mean distance of their combined scores from the entries' scores (0 = always with the
    consensus). A reviewer far from everyone else shows here before results are published."""
    distances: dict[int, list[float]] = defaultdict(list)
    for entry in results:
        for reviewer, value in entry.combined.items():
            distances[reviewer].append(abs(value - entry.score))
    return {reviewer: statistics.fmean(values) for reviewer, values in distances.items()}
