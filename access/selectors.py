"""Reads for the programme admin pages. Writes live in access/services.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from access.models import AuditEvent, Cohort, Grant, Invitation, Membership, Programme, Role, Suspension
from access.policy import Decision, may_use_site


def programmes_administered_by(user) -> QuerySet[Programme]:
    if not user.is_authenticated:
        return Programme.objects.none()
    if user.is_superuser:
        return Programme.objects.all()
    return Programme.objects.filter(memberships__user=user, memberships__role=Role.ADMIN).distinct()


def programmes_red_teamed_by(user) -> QuerySet[Programme]:
    if not user.is_authenticated:
        return Programme.objects.none()
    return Programme.objects.filter(memberships__user=user, memberships__role=Role.RED_TEAMER).distinct()


def cohorts_with_member_counts(programme: Programme) -> QuerySet[Cohort]:
    return programme.cohorts.annotate(member_count=Count("memberships__user", distinct=True)).order_by("name")


@dataclass
class Person:
    """One person in a programme as the admin pages show them: every role they hold there, their
    grant and what it has used, and whether they may use the site now (and if not, why)."""

    user: object
    memberships: list[Membership] = field(default_factory=list)
    grant: Grant | None = None
    usage: dict | None = None
    access: Decision | None = None

    @property
    def roles(self) -> str:
        return ", ".join(membership.get_role_display() for membership in self.memberships)

    @property
    def cohorts(self) -> list[Cohort]:
        return [membership.cohort for membership in self.memberships if membership.cohort]


def programme_people(programme: Programme) -> list[Person]:
    """Everyone with a role in ``programme``, with their grant, its usage and their access, in a
    fixed number of queries however many people there are."""
    from access.policy import site_decisions
    from generation.quota import grants_usage

    grants = {grant.user_id: grant for grant in Grant.objects.filter(programme=programme)}
    usage = grants_usage(list(grants.values()))
    people: dict[int, Person] = {}
    memberships = Membership.objects.filter(programme=programme).select_related("user", "cohort")
    for membership in memberships.order_by("user__email", "role"):
        person = people.get(membership.user_id)
        if person is None:
            grant = grants.get(membership.user_id)
            person = people[membership.user_id] = Person(
                user=membership.user, grant=grant, usage=usage[grant.pk] if grant else None
            )
        person.memberships.append(membership)
    decisions = site_decisions([person.user for person in people.values()])
    for person in people.values():
        person.access = decisions[person.user.pk]
    return list(people.values())


def programme_person(programme: Programme, user_id: int):
    """The person with ``user_id`` if they hold a role in ``programme``, else None."""
    return get_user_model().objects.filter(pk=user_id, memberships__programme=programme).distinct().first()


def person_summary(programme: Programme, user) -> Person:
    from generation.quota import grant_usage

    grant = Grant.objects.filter(programme=programme, user=user).first()
    return Person(
        user=user,
        memberships=list(Membership.objects.filter(programme=programme, user=user).select_related("cohort")),
        grant=grant,
        usage=grant_usage(grant) if grant else None,
        access=may_use_site(user),
    )


def suspensions_active(programme: Programme) -> QuerySet[Suspension]:
    return Suspension.objects.active().filter(programme=programme).select_related("user", "cohort", "created_by")


def suspensions_of(*, programme: Programme, user=None, cohort: Cohort | None = None) -> QuerySet[Suspension]:
    """Every suspension (active, ended or lifted) of one person or one cohort in ``programme``."""
    suspensions = Suspension.objects.filter(programme=programme).select_related("created_by", "lifted_by")
    if user is not None:
        return suspensions.filter(scope=Suspension.Scope.PERSON, user=user)
    return suspensions.filter(scope=Suspension.Scope.COHORT, cohort=cohort)


def programme_pause(programme: Programme) -> Suspension | None:
    return suspensions_active(programme).filter(scope=Suspension.Scope.PROGRAMME).order_by("created_at").first()


def programme_invitations(programme: Programme) -> QuerySet[Invitation]:
    return Invitation.objects.filter(programme=programme).select_related("cohort", "invited_by")


def cohort_members(cohort: Cohort) -> QuerySet[Membership]:
    return cohort.memberships.select_related("user").order_by("user__email")


def programme_audit_events(programme: Programme) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(programme=programme).select_related("actor", "subject")


def audit_actions(programme: Programme) -> list[str]:
    return list(
        AuditEvent.objects.filter(programme=programme).order_by("action").values_list("action", flat=True).distinct()
    )


def audit_person_filter(value: str) -> Q:
    """Events done by, done to, or aimed at (an invitation's address) a person whose email contains ``value``."""
    return Q(actor__email__icontains=value) | Q(subject__email__icontains=value) | Q(target__icontains=value)
