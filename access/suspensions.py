"""Taking access away and giving it back: ``suspend``, ``revoke`` and ``pause`` (invariant 2), ``reinstate``
and ``resume``. One model, Suspension, records all three; its kind says which."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from access import hooks
from access.audit import audit
from access.models import (
    Cohort,
    Membership,
    Programme,
    Role,
    Suspension,
)

log = logging.getLogger(__name__)


def _scope(user, cohort) -> str:
    if (user is None) == (cohort is None):
        raise ValidationError("Name one person or one cohort.")
    return Suspension.Scope.PERSON if user is not None else Suspension.Scope.COHORT


def suspend(
    *, programme: Programme, reason: str, user=None, cohort: Cohort | None = None, ends_at=None, actor=None, ip=None
) -> Suspension:
    """Take access away from one person or one cohort, until ``ends_at`` or until reinstated."""
    built = suspension_build(
        programme=programme,
        scope=_scope(user, cohort),
        kind=Suspension.Kind.SUSPENSION,
        reason=reason,
        user=user,
        cohort=cohort,
        ends_at=ends_at,
        actor=actor,
    )
    return _withdraw(built, ip=ip)


def revoke(*, programme: Programme, reason: str, user=None, cohort: Cohort | None = None, actor=None, ip=None):
    """Take access away from one person or one cohort for good: it has no end time, and only an explicit
    ``reinstate`` gives it back."""
    built = suspension_build(
        programme=programme,
        scope=_scope(user, cohort),
        kind=Suspension.Kind.REVOCATION,
        reason=reason,
        user=user,
        cohort=cohort,
        actor=actor,
    )
    return _withdraw(built, ip=ip)


def pause(*, programme: Programme, reason: str, ends_at=None, actor=None, ip=None) -> Suspension:
    """The kill switch: everyone in the programme but its admins loses access, until ``resume``."""
    built = suspension_build(
        programme=programme,
        scope=Suspension.Scope.PROGRAMME,
        kind=Suspension.Kind.PAUSE,
        reason=reason,
        ends_at=ends_at,
        actor=actor,
    )
    return _withdraw(built, ip=ip)


@transaction.atomic
def reinstate(*, suspension: Suspension, actor=None, reason: str = "", ip=None) -> Suspension:
    """Lift one suspension, revocation or pause: access is back and the people affected are told."""
    suspension = Suspension.objects.select_for_update().get(pk=suspension.pk)
    if suspension.lifted_at is not None:
        raise ValidationError("This has already been lifted.")
    suspension.lifted_at = timezone.now()
    suspension.lifted_by = actor
    suspension.lift_reason = reason.strip()
    suspension.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    affected = list(suspension_affected_users(suspension))
    audit(
        f"access.{suspension.kind}_lifted",
        actor=actor,
        subject=suspension.user,
        programme=suspension.programme,
        target=suspension.target,
        reason=suspension.lift_reason,
        ip=ip,
        suspension=suspension.pk,
    )
    transaction.on_commit(lambda: _notify(affected, suspension, lifted=True))
    return suspension


@transaction.atomic
def resume(*, programme: Programme, actor=None, reason: str = "", ip=None) -> list[Suspension]:
    """End a programme's pause: lift every pause of ``programme`` that is in force now."""
    pauses = list(Suspension.objects.active().filter(programme=programme, scope=Suspension.Scope.PROGRAMME))
    if not pauses:
        raise ValidationError(f"{programme.name} is not paused.")
    return [reinstate(suspension=paused, actor=actor, reason=reason, ip=ip) for paused in pauses]


def suspension_build(
    *,
    programme: Programme,
    scope: str,
    reason: str,
    actor=None,
    user=None,
    cohort: Cohort | None = None,
    kind: str = Suspension.Kind.SUSPENSION,
    ends_at=None,
) -> Suspension:
    """The suspension ``suspend``, ``revoke`` or ``pause`` makes, checked by every rule but not saved, so that
    ``suspension_affected_users`` can say who would lose access before anything changes."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why: the people affected are told."})
    if ends_at is not None and ends_at <= timezone.now():
        raise ValidationError({"ends_at": "The end time must be in the future."})
    if kind == Suspension.Kind.REVOCATION and ends_at is not None:
        raise ValidationError({"ends_at": "A revocation has no end time; suspend instead."})
    if scope == Suspension.Scope.PROGRAMME:
        kind = Suspension.Kind.PAUSE
    suspension = Suspension(
        programme=programme,
        scope=scope,
        kind=kind,
        user=user,
        cohort=cohort,
        reason=reason.strip(),
        ends_at=ends_at,
        created_by=actor,
    )
    suspension.full_clean()
    if cohort is not None and cohort.programme_id != programme.pk:
        raise ValidationError({"cohort": f"{cohort.name} is not a cohort of {programme.name}."})
    if user is not None and not Membership.objects.filter(user=user, programme=programme).exists():
        raise ValidationError({"user": f"{user.email} is not in {programme.name}."})
    return suspension


@transaction.atomic
def _withdraw(suspension: Suspension, *, ip=None) -> Suspension:
    """Take access away, at once, as ``suspension`` (from ``suspension_build``) says: sessions end, every app
    stops what those people have going (access.hooks: generation cancels queued jobs and running ones stop at
    their next step), and they are told why."""
    suspension.save()
    affected = list(suspension_affected_users(suspension))
    _cut_off(affected, reason=f"Access {suspension.get_kind_display().lower()}: {suspension.reason}")
    ends_at = suspension.ends_at
    audit(
        f"access.{suspension.kind}_started",
        actor=suspension.created_by,
        subject=suspension.user,
        programme=suspension.programme,
        target=suspension.target,
        reason=suspension.reason,
        ip=ip,
        suspension=suspension.pk,
        scope=suspension.scope,
        affected=len(affected),
        ends_at=ends_at.isoformat() if ends_at else None,
    )
    transaction.on_commit(lambda: _notify(affected, suspension, lifted=False))
    log.warning("access.suspended scope=%s target=%s affected=%d", suspension.scope, suspension.target, len(affected))
    return suspension


def suspension_affected_users(suspension: Suspension):
    User = get_user_model()
    if suspension.scope == Suspension.Scope.PERSON:
        return User.objects.filter(pk=suspension.user_id)
    if suspension.scope == Suspension.Scope.COHORT:
        return User.objects.filter(memberships__cohort=suspension.cohort_id).distinct()
    return (
        User.objects.filter(memberships__programme=suspension.programme_id)
        .exclude(memberships__programme=suspension.programme_id, memberships__role=Role.ADMIN)
        .distinct()
    )


def _cut_off(users, *, reason: str) -> None:
    ids = [user.pk for user in users]
    sessions_end_all(user_ids=ids)
    hooks.access_withdrawn.send(sender=Suspension, user_ids=ids, reason=reason)


def sessions_end_all(*, user_ids) -> None:
    """End every session of these people: a new session epoch makes each one's auth hash stale (sessions
    allauth does not track included), and the tracked ones are deleted outright."""
    from allauth.usersessions.models import UserSession

    get_user_model().objects.filter(pk__in=user_ids).update(session_epoch=F("session_epoch") + 1)
    for session in UserSession.objects.filter(user_id__in=user_ids):
        session.end()


def _notify(users, suspension: Suspension, *, lifted: bool) -> None:
    template = "access/email/access_restored.txt" if lifted else "access/email/access_suspended.txt"
    for user in users:
        context = {"user": user, "suspension": suspension, "site_url": settings.SITE_URL}
        verb = "restored" if lifted else suspension.get_kind_display().lower()
        send_mail(
            subject=f"Your Backlot access: {verb}",
            message=render_to_string(template, context),
            from_email=None,
            recipient_list=[user.email],
            fail_silently=True,
        )


def suspensions_active(programme: Programme) -> QuerySet[Suspension]:
    return Suspension.objects.active().filter(programme=programme).select_related("user", "cohort", "created_by")


def suspensions_of(*, programme: Programme, user=None, cohort: Cohort | None = None) -> QuerySet[Suspension]:
    """Every suspension (active, ended or lifted) of one person or one cohort in ``programme``."""
    suspensions = Suspension.objects.filter(programme=programme).select_related("created_by", "lifted_by")
    if user is not None:
        return suspensions.filter(scope=Suspension.Scope.PERSON, user=user)
    return suspensions.filter(scope=Suspension.Scope.COHORT, cohort=cohort)


def pause_in_force(programme: Programme) -> Suspension | None:
    return suspensions_active(programme).filter(scope=Suspension.Scope.PROGRAMME).order_by("created_at").first()
