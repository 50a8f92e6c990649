"""A person's standing: what every signed-in page asks of access.policy and access.terms before it shows
anything (may they use the site, may they render, which programme's terms they still owe an answer, which roles
they hold, whether they ever had a grant), kept in the cache between requests.

The key holds ``User.standing_version``, which every change to what a person may do moves to a new random
value inside the change's own transaction (``standing_moved``, from the receivers below): a membership, a grant,
a terms version or answer, a suspension or its lifting, a programme's or cohort's name. The request loads the
user row anyway, so a kept standing costs no query, and the next request after a change, in any process, reads
it afresh; a change rolled back leaves the version where it was, with the standing kept for it. A suspension or
a grant that starts or ends by the clock alone moves nothing, so a standing is kept only until the next such
moment (and never longer than KEPT_SECONDS).

Only the request path reads a kept standing. The rules stay in access.policy and access.terms, which everything
else (submission, the worker's step check, lists of people) asks directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Min, Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from access.models import (
    Cohort,
    Grant,
    Membership,
    Programme,
    Suspension,
    TermsResponse,
    TermsVersion,
    standing_version_new,
)
from access.policy import Decision, may_render, may_use_site
from access.suspensions import suspension_affected_users
from access.terms import terms_unanswered

KEPT_SECONDS = 300


@dataclass(frozen=True)
class Standing:
    site: Decision  # access.policy.may_use_site
    render: Decision  # access.policy.may_render
    terms_due: str | None  # the slug of the first programme whose current terms await an answer (access.terms)
    roles: frozenset[str]  # the roles of the person's memberships
    had_grant: bool  # any grant, current or not: anyone who could ever render


def standing(user) -> Standing:
    """``user``'s standing now: kept, or read afresh and kept. ``user``: as loaded for this request."""
    key = standing_key(user)
    kept = cache.get(key)
    if kept is not None:
        return kept
    now = timezone.now()
    until = _next_moment(user, now)  # read first: a suspension starting as we read is then caught by the time
    site = may_use_site(user, now)
    pending = terms_unanswered(user) if site else []
    fresh = Standing(
        site=site,
        render=may_render(user, site=site),
        terms_due=pending[0].programme.slug if pending else None,
        roles=frozenset(Membership.objects.filter(user=user).values_list("role", flat=True)),
        had_grant=Grant.objects.filter(user=user).exists(),
    )
    seconds = KEPT_SECONDS if until is None else min(KEPT_SECONDS, int((until - now).total_seconds()))
    if seconds > 0:
        cache.set(key, fresh, seconds)
    return fresh


def standing_key(user) -> str:
    return f"access.standing:{user.pk}:{user.standing_version}:{user.session_epoch}:{int(user.is_active)}"


def request_standing(request) -> Standing:
    """The standing of the request's signed-in person, read once for the request (the access middleware reads it
    first; the page's header asks it too)."""
    user = request.user
    asked, kept = getattr(request, "standing", (None, None))
    if asked != user.pk:  # not asked yet, or asked for whoever was signed in before this request signed someone in
        kept = standing(user)
        request.standing = (user.pk, kept)
    return kept


def _next_moment(user, now) -> datetime | None:
    """The next time any suspension, or any of ``user``'s grants, starts or ends."""
    later = {
        "starts": Min("starts_at", filter=Q(starts_at__gt=now)),
        "ends": Min("ends_at", filter=Q(ends_at__gt=now)),
    }
    moments = [
        *Suspension.objects.filter(lifted_at__isnull=True).aggregate(**later).values(),
        *Grant.objects.filter(user=user).aggregate(**later).values(),
    ]
    return min((moment for moment in moments if moment is not None), default=None)


def standing_moved(users) -> None:
    """What ``users`` (a query of users, or their ids) may do has changed: their kept standings are no longer read."""
    get_user_model().objects.filter(pk__in=users).update(standing_version=standing_version_new())


def _members(*, programme=None, cohort=None):
    if cohort is not None:
        return Membership.objects.filter(cohort=cohort).values("user")
    return Membership.objects.filter(programme=programme).values("user")


def _affected(instance):
    if isinstance(instance, Suspension):
        return suspension_affected_users(instance).values("pk")
    if isinstance(instance, TermsVersion):
        return _members(programme=instance.programme_id)
    if isinstance(instance, Cohort):
        return _members(cohort=instance.pk)
    if isinstance(instance, Programme):
        return _members(programme=instance.pk)
    return [instance.user_id]  # a membership, a grant, an answer to terms


def _moved(sender, instance, **kwargs) -> None:
    standing_moved(_affected(instance))


for _model in (Membership, Grant, TermsResponse, Suspension, TermsVersion, Cohort, Programme):
    post_save.connect(_moved, sender=_model, dispatch_uid=f"access.standing.{_model.__name__}.saved")
    post_delete.connect(_moved, sender=_model, dispatch_uid=f"access.standing.{_model.__name__}.deleted")
