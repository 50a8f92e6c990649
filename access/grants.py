"""Grants: what a person may render in a programme (models, sizes, GPU-time quotas, dates). Usage is
counted by generation and asked through access.hooks."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from access import hooks
from access.audit import audit
from access.models import (
    Cohort,
    Grant,
)


def grant_from_cohort(*, user, cohort: Cohort, actor=None) -> Grant:
    ends_at = timezone.now() + timedelta(days=cohort.grant_days) if cohort.grant_days else None
    grant = Grant.objects.create(user=user, programme=cohort.programme, ends_at=ends_at, **cohort.limits())
    audit(
        "access.grant_created",
        actor=actor,
        subject=user,
        programme=cohort.programme,
        target=grant,
        cohort=cohort.name,
        limits=_jsonable(grant.limits()),
    )
    return grant


GRANT_EDITABLE = (*Grant.LIMIT_FIELDS, "starts_at", "ends_at")


@transaction.atomic
def grant_update(*, grant: Grant, actor=None, reason: str = "", ip=None, **changes) -> Grant:
    unknown = set(changes) - set(GRANT_EDITABLE)
    if unknown:
        raise ValidationError(f"Grants have no field {', '.join(sorted(unknown))}.")
    grant = Grant.objects.select_for_update().get(pk=grant.pk)
    before = {field: getattr(grant, field) for field in changes}
    for field, value in changes.items():
        setattr(grant, field, value)
    grant.full_clean(exclude=["user", "programme"])
    if grant.ends_at and grant.ends_at <= grant.starts_at:
        raise ValidationError({"ends_at": "A grant must end after it starts."})
    grant.save()
    audit(
        "access.grant_changed",
        actor=actor,
        subject=grant.user,
        programme=grant.programme,
        target=grant,
        reason=reason,
        ip=ip,
        before=_jsonable(before),
        after=_jsonable(changes),
    )
    return grant


COHORT_GRANT_EDITABLE = (*Cohort.LIMIT_FIELDS, "grant_days")


@transaction.atomic
def cohort_grant_update(
    *, cohort: Cohort, actor=None, reason: str = "", ip=None, apply_to_members: bool = False, **changes
) -> list[Grant]:
    """Change a cohort's default grant: what people who join it from now on are granted (``grant_days``: how long
    their grants last). Members' existing grants keep their own limits unless ``apply_to_members``, which brings
    each of them to the cohort's limits (cohort_grant_apply). Returns the members' grants that changed."""
    unknown = set(changes) - set(COHORT_GRANT_EDITABLE)
    if unknown:
        raise ValidationError(f"A cohort's grant has no field {', '.join(sorted(unknown))}.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why: it is kept in the audit trail."})
    errors = hooks.model_keys_unknown(changes.get("model_keys"))
    if errors:
        raise ValidationError(errors)
    cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
    if changes:
        before = {field: getattr(cohort, field) for field in changes}
        for field, value in changes.items():
            setattr(cohort, field, value)
        cohort.full_clean(exclude=["programme"], validate_unique=False, validate_constraints=False)
        cohort.save(update_fields=list(changes))
        audit(
            "access.cohort_grant_changed",
            actor=actor,
            programme=cohort.programme,
            target=cohort,
            reason=reason.strip(),
            ip=ip,
            before=before,
            after=changes,
        )
    return cohort_grant_apply(cohort=cohort, actor=actor, reason=reason, ip=ip) if apply_to_members else []


def cohort_grant_apply(*, cohort: Cohort, actor=None, reason: str = "", ip=None) -> list[Grant]:
    """Bring each current member's grant in the cohort's programme to the cohort's limits (dates unchanged), each
    through grant_update (so each is its own ``access.grant_changed`` event). Returns the grants that changed."""
    limits = cohort.limits()
    changed = []
    members = cohort.memberships.values("user")
    for grant in Grant.objects.filter(programme=cohort.programme, user__in=members).order_by("pk"):
        differs = {field: value for field, value in limits.items() if getattr(grant, field) != value}
        if differs:
            changed.append(grant_update(grant=grant, actor=actor, reason=reason, ip=ip, **differs))
    return changed


def _jsonable(values: dict) -> dict:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}
