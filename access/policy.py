"""The one place that answers "may this person do this now?".

Views, the access middleware, API permissions and the worker's per-step check all ask here, so
every way of losing access (deactivation, a suspension of the person or their cohort, a paused
programme, a grant that ended) has a single implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from access.models import STAFF_ROLES, Grant, Membership, Role, Suspension
from access.terms import terms_owed


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)


def _blocking(person, at) -> QuerySet[Suspension]:
    """The suspensions that shut ``person`` out at ``at``, oldest first: of the person, of one of their
    cohorts, or a pause of a programme they are a tester in; programme admins keep their pages during a
    pause. Their memberships are read inside the query. ``person``: a user, or OuterRef("pk") in a query
    of users."""
    member = OuterRef(person) if isinstance(person, OuterRef) else person
    memberships = Membership.objects.filter(user=member)
    administered = memberships.filter(role=Role.ADMIN).values("programme")
    tested = memberships.exclude(role=Role.ADMIN).values("programme")
    return (
        Suspension.objects.active(at)
        .filter(
            Q(user=person)
            | Q(cohort__in=memberships.filter(cohort__isnull=False).values("cohort"))
            | (Q(scope=Suspension.Scope.PROGRAMME, programme__in=tested) & ~Q(programme__in=administered))
        )
        .order_by("created_at")
    )


def _blocking_suspensions(users, at) -> dict[int, Suspension]:
    """{user id: the suspension that shuts that person out now (_blocking)} for those of ``users`` who are
    shut out: one query for one person (every request asks this), two for many."""
    if len(users) == 1:
        suspension = _blocking(users[0], at).select_related("cohort", "programme").first()
        return {users[0].pk: suspension} if suspension else {}
    first = Subquery(_blocking(OuterRef("pk"), at).values("pk")[:1])
    blocked = (
        get_user_model()
        .objects.filter(pk__in=[user.pk for user in users])
        .annotate(blocking=first)
        .filter(blocking__isnull=False)
        .values_list("pk", "blocking")
    )
    ids = dict(blocked)
    suspensions = Suspension.objects.select_related("cohort", "programme").in_bulk(set(ids.values()))
    return {user_id: suspensions[suspension_id] for user_id, suspension_id in ids.items()}


def _suspension_reason(suspension: Suspension) -> str:
    verb = "revoked" if suspension.kind == Suspension.Kind.REVOCATION else "suspended"
    if suspension.scope == Suspension.Scope.PERSON:
        text = f"Your access has been {verb}"
    elif suspension.scope == Suspension.Scope.COHORT:
        text = f"Access for the cohort {suspension.cohort.name} has been {verb}"
    else:
        text = f"The programme {suspension.programme.name} is paused"
    text += f": {suspension.reason}"
    if suspension.ends_at:
        text += f" (until {timezone.localtime(suspension.ends_at):%Y-%m-%d %H:%M %Z})"
    return text


def may_use_site(user, at=None) -> Decision:
    """May ``user`` use the signed-in pages and the API at all?"""
    if user is None or not user.is_authenticated:
        return Decision(False, "Sign in to use Backlot.")
    return site_decisions([user], at)[user.pk]


def site_decisions(users, at=None) -> dict[int, Decision]:
    """{user id: may_use_site(user)} for many signed-up people at once (lists of people)."""
    at = at or timezone.now()
    active = [user for user in users if user.is_active]
    blocking = _blocking_suspensions(active, at) if active else {}
    decisions = {}
    for user in users:
        if not user.is_active:
            decisions[user.pk] = Decision(False, "This account is deactivated.")
        elif user.pk in blocking:
            decisions[user.pk] = Decision(False, _suspension_reason(blocking[user.pk]))
        else:
            decisions[user.pk] = ALLOWED
    return decisions


def current_grant(user, at=None) -> Grant | None:
    return _current_grants(user, at).first()


def _current_grants(user, at=None):
    at = at or timezone.now()
    return (
        Grant.objects.filter(user=user, starts_at__lte=at)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .select_related("programme")
        .order_by("starts_at")
    )


def may_render(user, at=None, *, site: Decision | None = None) -> Decision:
    """May ``user`` submit render jobs, and may their running jobs go on? ``site``: may_use_site's answer for
    ``user`` when this request has already asked it (access.middleware.AccessMiddleware keeps it)."""
    decision = site if site is not None and at is None else may_use_site(user, at)
    if not decision:
        return decision
    # The grant and its programme's terms in one query: every page's header asks this.
    grant = _current_grants(user, at).annotate(terms_owed=terms_owed(user)).first()
    if grant is None:
        return Decision(False, "You have no current grant for the generation service.")
    if grant.terms_owed:
        return Decision(False, f"Accept the current terms of {grant.programme.name} to generate clips.")
    return ALLOWED


def is_programme_staff(user, programme=None, roles=STAFF_ROLES) -> bool:
    if not user.is_authenticated:
        return False
    memberships = Membership.objects.filter(user=user, role__in=roles)
    if programme is not None:
        memberships = memberships.filter(programme=programme)
    return memberships.exists()


def is_programme_admin(user, programme=None) -> bool:
    return user.is_authenticated and (user.is_superuser or is_programme_staff(user, programme, roles=["admin"]))


def is_staff(user) -> bool:
    """Programme admins, reviewers and Django staff: the people whose accounts hold staff power."""
    return user.is_authenticated and (user.is_staff or user.is_superuser or is_programme_staff(user))


def has_second_factor(user) -> bool:
    """An authenticator that allauth asks for at sign-in (TOTP, or a security key); recovery codes alone are not one."""
    from allauth.mfa.models import Authenticator

    kinds = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    return user.is_authenticated and Authenticator.objects.filter(user=user, type__in=kinds).exists()


def staff_two_factor(user) -> Decision:
    """Staff power (programme management, leak review, the admin, reviewing unreleased films) needs two-factor
    authentication set up first (BACKLOT_STAFF_MFA_REQUIRED)."""
    if settings.BACKLOT_STAFF_MFA_REQUIRED and is_staff(user) and not has_second_factor(user):
        return Decision(False, "Staff pages need two-factor authentication: set up an authenticator app first.")
    return ALLOWED


def may_read_prompt_refusals(user, programme) -> bool:
    """The prompts a programme's policy refused are for its admins and its red team, nobody else."""
    return is_programme_admin(user, programme) or is_programme_staff(user, programme, roles=[Role.RED_TEAMER])


def may_manage_queue(user) -> bool:
    """The render queue spans every programme and every GPU, so only the operator's staff (Django
    staff or superusers) may see and reorder it; programme admins and reviewers may not."""
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser))


def may_set_up_programmes(user) -> bool:
    """Setting up a programme (its name, models, first admin and rates) is the operator's: their staff (Django
    staff or superusers) only. From then on the programme's own admins run it under /manage/<slug>/."""
    return may_manage_queue(user)
