"""The one place that answers "may this person do this now?".

Views, API permissions and the worker's per-step check all ask here, so that every way of losing
access (and, later, grants, suspensions and programme pauses) has a single implementation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)


def may_render(user) -> Decision:
    """May ``user`` submit render jobs, and may their running jobs go on?"""
    if user is None or not user.is_authenticated:
        return Decision(False, "Sign in to use the generation service.")
    if not user.is_active:
        return Decision(False, "This account is deactivated.")
    return ALLOWED
