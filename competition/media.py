"""Signed links to films, like clips' (generation/media.py): short-lived, bound to the person they were
made for, and checked again on every request. The original file goes to its entrant and the call's
admins; reviewers only ever get links to the blind copy, and only of entries assigned to them."""

from __future__ import annotations

from django.urls import reverse

from access.models import User
from access.policy import is_programme_admin, may_use_site, staff_two_factor
from competition.models import ReviewAssignment, Submission
from core.signed_links import LinkRefused, SignedLinks

ORIGINAL, BLIND = "original", "blind"


class FilmRefused(LinkRefused):
    """Why a film link does not serve its file, in words for the person holding it."""


LINKS = SignedLinks(
    salt="competition.media", noun="film link", on_expiry="Reload the page for a fresh one.", refused=FilmRefused
)


def film_url(submission: Submission, *, viewer, blind: bool) -> str:
    claims = {"s": submission.pk, "u": viewer.pk, "k": BLIND if blind else ORIGINAL}
    return reverse("competition:film", args=[LINKS.sign(claims)])


def may_see_original(user, submission: Submission) -> bool:
    return user.pk == submission.entrant_id or is_programme_admin(user, submission.call.programme)


def may_see_blind(user, submission: Submission) -> bool:
    if is_programme_admin(user, submission.call.programme):
        return True
    return (
        ReviewAssignment.objects.filter(submission=submission, reviewer=user)
        .exclude(state=ReviewAssignment.State.RECUSED)
        .exists()
    )


def film_resolve(token: str, user) -> tuple[Submission, str]:
    """The entry a link names and which file it serves, for ``user``; raises FilmRefused."""
    claims = LINKS.read(token)
    if user.is_authenticated and user.pk != claims.get("u"):
        raise FilmRefused("This film link was made for someone else.")
    # Like clips' links, a link works for whoever holds it (a player, an API client) while the person it
    # was made for still may see the film; signed-in, it works only for that person.
    viewer = User.objects.filter(pk=claims.get("u")).first()
    decision = may_use_site(viewer)
    if decision:  # reviewers and admins watch unreleased films: only with two-factor set up, like staff pages
        decision = staff_two_factor(viewer)
    if not decision:
        raise FilmRefused(decision.reason)
    submission = Submission.objects.select_related("call__programme").filter(pk=claims.get("s")).first()
    kind = claims.get("k")
    allowed = may_see_blind if kind == BLIND else may_see_original
    if submission is None or not allowed(viewer, submission):
        raise FilmRefused("This film is not available to you.")
    return submission, kind
