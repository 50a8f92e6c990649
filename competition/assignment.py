"""Choosing reviewers for entries: k each, never an excluded pair, loads as even as the exclusions allow.

A pure function over ids, so it can be tested on any data set; competition/reviews.py feeds it the
call's entries, reviewers, exclusions and the assignments that already exist.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass
class Plan:
    pairs: set[tuple[Hashable, Hashable]]  # (submission, reviewer), kept and new
    added: set[tuple[Hashable, Hashable]] = field(default_factory=set)
    removed: set[tuple[Hashable, Hashable]] = field(default_factory=set)
    short: dict[Hashable, int] = field(default_factory=dict)  # submissions that could not get k reviewers: missing

    def loads(self, reviewers) -> dict:
        load = dict.fromkeys(reviewers, 0)
        for _, reviewer in self.pairs:
            load[reviewer] = load.get(reviewer, 0) + 1
        return load


def assign(
    *,
    submissions: list,
    reviewers: list,
    k: int,
    allowed: Callable[[Hashable, Hashable], bool],
    existing: set[tuple[Hashable, Hashable]] = frozenset(),
    locked: set[tuple[Hashable, Hashable]] = frozenset(),
    seed: int = 0,
) -> Plan:
    """Give every submission ``k`` allowed reviewers. ``existing`` pairs are kept when still allowed;
    ``locked`` ones (started reviews) are kept whatever happens and never moved. Submissions with the
    fewest allowed reviewers are served first, each by the least-loaded reviewers; then assignments are
    moved from the busiest reviewers to the idlest until no move can narrow the gap further."""
    rng = random.Random(seed)  # noqa: S311 - a fair tie-break, not a secret
    reviewers = list(reviewers)
    order = {reviewer: rng.random() for reviewer in reviewers}
    pairs = {pair for pair in existing if pair in locked or (pair[1] in order and allowed(*pair))}
    removed = set(existing) - pairs
    by_submission: dict = defaultdict(set)
    load = dict.fromkeys(reviewers, 0)
    for submission, reviewer in pairs:
        by_submission[submission].add(reviewer)
        load[reviewer] = load.get(reviewer, 0) + 1
    options = {sub: [rev for rev in reviewers if allowed(sub, rev)] for sub in submissions}
    short = {}
    for submission in sorted(submissions, key=lambda sub: (len(options[sub]), str(sub))):
        chosen = by_submission[submission]
        candidates = sorted(
            (rev for rev in options[submission] if rev not in chosen), key=lambda r: (load[r], order[r])
        )
        for reviewer in candidates[: max(0, k - len(chosen))]:
            chosen.add(reviewer)
            load[reviewer] += 1
        if len(chosen) < k:
            short[submission] = k - len(chosen)
    _rebalance(by_submission, load, options, locked)
    final = {(sub, rev) for sub, revs in by_submission.items() for rev in revs}
    return Plan(pairs=final, added=final - set(existing), removed=removed | (set(existing) - final), short=short)


def _rebalance(by_submission, load, options, locked) -> None:
    """Move one assignment at a time from a reviewer with load L to one with load <= L - 2, while any
    such move exists. Each move lowers the sum of squared loads, so this ends."""
    allowed_sets = {sub: set(revs) for sub, revs in options.items()}
    moved = True
    while moved:
        moved = False
        busiest = sorted(load, key=lambda rev: -load[rev])
        idlest = sorted(load, key=lambda rev: load[rev])
        for heavy in busiest:
            for light in idlest:
                if load[heavy] - load[light] < 2:
                    break
                for submission, chosen in by_submission.items():
                    if (
                        heavy in chosen
                        and light not in chosen
                        and light in allowed_sets.get(submission, ())
                        and (submission, heavy) not in locked
                    ):
                        chosen.discard(heavy)
                        chosen.add(light)
                        load[heavy] -= 1
                        load[light] += 1
                        moved = True
                        break
                if moved:
                    break
            if moved:
                break
