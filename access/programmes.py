"""Programmes, their cohorts and who holds which role in them; what the admin pages show of each person."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils.text import slugify

from access import hooks
from access.audit import audit
from access.grants import grant_from_cohort
from access.models import (
    TESTER_ROLES,
    Cohort,
    Grant,
    Membership,
    Programme,
    Role,
)
from access.policy import Decision, may_use_site

SLUG_MAX = 60


def _name_and_slug(name: str, slug: str) -> tuple[str, str, dict[str, str]]:
    """The trimmed name, the slug (from the name where none is given) and what is wrong with either."""
    name, slug = (name or "").strip(), (slug or "").strip().lower()
    slug = slug or slugify(name)[:SLUG_MAX]
    errors = {}
    if not name:
        errors["name"] = "Give it a name."
    if not slug:
        if name:
            errors["slug"] = "The name gives no usable slug: type one (letters, digits and hyphens)."
    elif len(slug) > SLUG_MAX or not re.fullmatch(r"[a-z0-9]+(?:[-_][a-z0-9]+)*", slug):
        errors["slug"] = f"{slug!r} is not a slug: use at most {SLUG_MAX} lowercase letters, digits and hyphens."
    return name, slug, errors


@transaction.atomic
def programme_create(
    *, name: str, actor=None, description: str = "", slug: str = "", model_keys=(), ip=None
) -> Programme:
    """A new programme, offering ``model_keys`` (none: every model). Its name and slug must be free."""
    name, slug, errors = _name_and_slug(name, slug)
    errors |= hooks.model_keys_unknown(model_keys)
    if "name" not in errors and Programme.objects.filter(name__iexact=name).exists():
        errors["name"] = f"There is already a programme called {name}."
    if "slug" not in errors and Programme.objects.filter(slug=slug).exists():
        errors["slug"] = f"The slug {slug!r} is taken by another programme; choose another."
    if errors:
        raise ValidationError(errors)
    programme = Programme.objects.create(
        name=name,
        slug=slug,
        description=(description or "").strip(),
        model_keys=hooks.model_keys_ordered(model_keys),
    )
    audit(
        "access.programme_created",
        actor=actor,
        programme=programme,
        target=programme,
        ip=ip,
        slug=slug,
        model_keys=programme.model_keys,
    )
    return programme


@transaction.atomic
def programme_models_set(*, programme: Programme, model_keys: list[str], actor=None, ip=None) -> Programme:
    """Which registry models the programme offers (none ticked: all). Grants narrow it further."""
    errors = hooks.model_keys_unknown(model_keys)
    if errors:
        raise ValidationError(errors)
    before = list(programme.model_keys)
    programme.model_keys = hooks.model_keys_ordered(model_keys)
    programme.save(update_fields=["model_keys"])
    audit(
        "programme.models_changed",
        actor=actor,
        programme=programme,
        target=programme,
        ip=ip,
        before=before,
        after=programme.model_keys,
    )
    return programme


@transaction.atomic
def cohort_create(*, programme: Programme, name: str, actor=None, ip=None, slug: str = "", **limits) -> Cohort:
    """A cohort of ``programme``; ``limits`` (GrantLimits' fields and ``grant_days``) are its members' default
    grant. Its name and slug must be free in the programme."""
    unknown = set(limits) - {*Cohort.LIMIT_FIELDS, "grant_days"}
    if unknown:
        raise ValidationError(f"Cohorts have no field {', '.join(sorted(unknown))}.")
    name, slug, errors = _name_and_slug(name, slug)
    errors |= hooks.model_keys_unknown(limits.get("model_keys", []))
    if "name" not in errors and programme.cohorts.filter(name__iexact=name).exists():
        errors["name"] = f"{programme.name} already has a cohort called {name}."
    if "slug" not in errors and programme.cohorts.filter(slug=slug).exists():
        errors["slug"] = f"{programme.name} already has a cohort with the slug {slug!r}."
    if errors:
        raise ValidationError(errors)
    cohort = Cohort(programme=programme, name=name, slug=slug, **limits)
    cohort.full_clean(exclude=["programme"], validate_constraints=False)
    cohort.save()
    audit(
        "access.cohort_created",
        actor=actor,
        programme=programme,
        target=cohort,
        ip=ip,
        limits=cohort.limits(),
        grant_days=cohort.grant_days,
    )
    return cohort


@transaction.atomic
def membership_add(*, user, programme: Programme, role: str, cohort: Cohort | None = None, actor=None) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}. Choose one of: {', '.join(Role.values)}."})
    if cohort is not None and cohort.programme_id != programme.pk:
        raise ValidationError({"cohort": f"{cohort.name} is not a cohort of {programme.name}."})
    if role in TESTER_ROLES and cohort is None:
        raise ValidationError({"cohort": "Testers join a programme through a cohort."})
    membership, created = Membership.objects.get_or_create(
        user=user, programme=programme, role=role, defaults={"cohort": cohort}
    )
    if created:
        audit("access.membership_added", actor=actor, subject=user, programme=programme, target=membership, role=role)
    if role in TESTER_ROLES and not Grant.objects.filter(user=user, programme=programme).exists():
        grant_from_cohort(user=user, cohort=cohort, actor=actor)
    return membership


def programmes_administered(user) -> QuerySet[Programme]:
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


def cohort_members(cohort: Cohort) -> QuerySet[Membership]:
    return cohort.memberships.select_related("user").order_by("user__email")


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

    grants = {grant.user_id: grant for grant in Grant.objects.filter(programme=programme)}
    usage = hooks.grants_usage(list(grants.values()))
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
    grant = Grant.objects.filter(programme=programme, user=user).first()
    return Person(
        user=user,
        memberships=list(Membership.objects.filter(programme=programme, user=user).select_related("cohort")),
        grant=grant,
        usage=hooks.grant_usage(grant) if grant else None,
        access=may_use_site(user),
    )
