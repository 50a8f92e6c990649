"""Writes for people and their access. Every change is recorded in the audit trail."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from access.audit import audit
from access.models import (
    TESTER_ROLES,
    Cohort,
    Grant,
    Invitation,
    Membership,
    Programme,
    Role,
    Suspension,
    token_digest,
)  # fmt: skip

log = logging.getLogger(__name__)

INVITATION_DAYS = 14


def _normalise_email(email: str) -> str:
    email = get_user_model().objects.normalize_email((email or "").strip()).lower()
    validate_email(email)
    return email


@transaction.atomic
def user_create(*, email: str, password: str, display_name: str = "", is_staff: bool = False):
    """Create an active account whose address counts as verified (it was given by an admin)."""
    User = get_user_model()
    email = _normalise_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": f"An account for {email} already exists."})
    user = User(email=email, display_name=display_name.strip(), is_staff=is_staff)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


# --- Programmes, cohorts, memberships, grants ----------------------------------------------------


# Programme slugs that would clash with fixed pages under /manage/.
RESERVED_PROGRAMME_SLUGS = {"queue"}


@transaction.atomic
def programme_create(*, name: str, actor=None, description: str = "") -> Programme:
    slug = slugify(name)[:60]
    if slug in RESERVED_PROGRAMME_SLUGS:
        raise ValidationError({"name": f"{name.strip()!r} is reserved for a staff page; choose another name."})
    programme = Programme.objects.create(name=name.strip(), slug=slug, description=description)
    audit("access.programme_created", actor=actor, programme=programme, target=programme)
    return programme


@transaction.atomic
def programme_models_set(*, programme: Programme, model_keys: list[str], actor=None, ip=None) -> Programme:
    """Which registry models the programme offers (none ticked: all). Grants narrow it further."""
    from generation.registry import MODELS

    unknown = sorted(set(model_keys) - set(MODELS))
    if unknown:
        raise ValidationError({"model_keys": f"Unknown models: {', '.join(unknown)}."})
    before = list(programme.model_keys)
    programme.model_keys = sorted(set(model_keys), key=list(MODELS).index)
    programme.save(update_fields=["model_keys"])
    audit("programme.models_changed", actor=actor, programme=programme, target=programme, ip=ip,
          before=before, after=programme.model_keys)  # fmt: skip
    return programme


def cohort_create(*, programme: Programme, name: str, actor=None, **limits) -> Cohort:
    cohort = Cohort.objects.create(programme=programme, name=name.strip(), slug=slugify(name)[:60], **limits)
    audit("access.cohort_created", actor=actor, programme=programme, target=cohort, limits=cohort.limits())
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


def grant_from_cohort(*, user, cohort: Cohort, actor=None) -> Grant:
    ends_at = timezone.now() + timedelta(days=cohort.grant_days) if cohort.grant_days else None
    grant = Grant.objects.create(user=user, programme=cohort.programme, ends_at=ends_at, **cohort.limits())
    audit(
        "access.grant_created", actor=actor, subject=user, programme=cohort.programme, target=grant,
        cohort=cohort.name, limits=_jsonable(grant.limits()),
    )  # fmt: skip
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
        "access.grant_changed", actor=actor, subject=grant.user, programme=grant.programme, target=grant,
        reason=reason, ip=ip, before=_jsonable(before), after=_jsonable(changes),
    )  # fmt: skip
    return grant


def _jsonable(values: dict) -> dict:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}


# --- Invitations ---------------------------------------------------------------------------------


def invitation_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("access:invitation_accept", args=[token])


def _invitation_send(invitation: Invitation, token: str) -> None:
    context = {"invitation": invitation, "url": invitation_url(token), "site_url": settings.SITE_URL}
    send_mail(
        subject=f"You're invited to {invitation.programme.name} on Backlot",
        message=render_to_string("access/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
    Invitation.objects.filter(pk=invitation.pk).update(sent_at=timezone.now(), send_count=F("send_count") + 1)


def invitations_create(
    *,
    cohort: Cohort | None,
    programme: Programme,
    role: str,
    emails: list[str],
    actor=None,
    ip=None,
    days: int = INVITATION_DAYS,
) -> tuple[list[Invitation], dict[str, str]]:
    """Invite each address. Returns (invitations made, {address: why it was skipped}). Nothing is
    sent or saved when the request itself is wrong (unknown role, cohort of another programme)."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}. Choose one of: {', '.join(Role.values)}."})
    if role in TESTER_ROLES and cohort is None:
        raise ValidationError({"cohort": "Choose the cohort that testers join."})
    if cohort is not None and cohort.programme_id != programme.pk:
        raise ValidationError({"cohort": f"{cohort.name} is not a cohort of {programme.name}."})
    if not 1 <= days <= 90:
        raise ValidationError({"days": "Invitations last from 1 to 90 days."})
    made, skipped, seen = [], {}, set()
    User = get_user_model()
    for raw in emails:
        try:
            email = _normalise_email(raw)
        except ValidationError:
            skipped[raw] = "not a valid email address"
            continue
        if email in seen:
            skipped[raw] = "listed twice"
            continue
        seen.add(email)
        if Membership.objects.filter(user__email__iexact=email, programme=programme, role=role).exists():
            skipped[email] = "already a member with this role"
            continue
        if Invitation.objects.filter(
            email=email, programme=programme, role=role, accepted_at__isnull=True, revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).exists():  # fmt: skip
            skipped[email] = "already has an open invitation (resend it instead)"
            continue
        if User.objects.filter(email__iexact=email, is_active=False).exists():
            skipped[email] = "belongs to a deactivated account"
            continue
        token = secrets.token_urlsafe(32)
        with transaction.atomic():
            invitation = Invitation.objects.create(
                programme=programme, cohort=cohort, role=role, email=email, token_digest=token_digest(token),
                invited_by=actor, expires_at=timezone.now() + timedelta(days=days),
            )  # fmt: skip
            audit(
                "access.invitation_sent", actor=actor, programme=programme, target=email, ip=ip, role=role,
                cohort=cohort.name if cohort else None, invitation=invitation.pk,
            )  # fmt: skip
            transaction.on_commit(lambda invitation=invitation, token=token: _invitation_send(invitation, token))
        made.append(invitation)
    return made, skipped


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor=None, ip=None, days: int = INVITATION_DAYS) -> Invitation:
    """A fresh link (the old one stops working) and a fresh expiry."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state in (Invitation.State.ACCEPTED, Invitation.State.REVOKED):
        raise ValidationError(f"This invitation was {invitation.state}; it cannot be resent.")
    token = secrets.token_urlsafe(32)
    invitation.token_digest = token_digest(token)
    invitation.expires_at = timezone.now() + timedelta(days=days)
    invitation.save(update_fields=["token_digest", "expires_at"])
    audit("access.invitation_resent", actor=actor, programme=invitation.programme, target=invitation.email, ip=ip)
    transaction.on_commit(lambda: _invitation_send(invitation, token))
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor=None, ip=None, reason: str = "") -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != Invitation.State.SENT:
        raise ValidationError(f"This invitation is {invitation.state}; only open invitations can be revoked.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit(
        "access.invitation_revoked", actor=actor, programme=invitation.programme, target=invitation.email, ip=ip,
        reason=reason,
    )  # fmt: skip
    return invitation


class InvitationInvalid(Exception):
    """Why a link cannot be used, in words for the person holding it."""


def invitation_for_token(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("programme", "cohort").filter(token_digest=token_digest(token or "")).first()
    )
    if invitation is None:
        raise InvitationInvalid("This invitation link is not valid. Check that you copied the whole link.")
    state = invitation.state
    if state == Invitation.State.ACCEPTED:
        raise InvitationInvalid("This invitation has already been used. Sign in with the account it created.")
    if state == Invitation.State.REVOKED:
        raise InvitationInvalid("This invitation was withdrawn by the programme's admins.")
    if state == Invitation.State.EXPIRED:
        raise InvitationInvalid("This invitation has expired. Ask the programme's admins to send a new one.")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user, ip=None) -> Invitation:
    """Bind ``user`` (just signed up, or signed in) to the invitation: membership, grant, audit."""
    invitation = invitation_for_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != Invitation.State.SENT:  # taken by a concurrent request
        raise InvitationInvalid("This invitation has already been used.")
    if user.email.lower() != invitation.email.lower():
        raise InvitationInvalid(f"This invitation is for {invitation.email}, not {user.email}.")
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    EmailAddress.objects.filter(user=user, email__iexact=invitation.email).update(verified=True)
    membership_add(user=user, programme=invitation.programme, role=invitation.role, cohort=invitation.cohort)
    audit(
        "access.invitation_accepted", actor=user, subject=user, programme=invitation.programme,
        target=invitation.email, ip=ip, role=invitation.role,
    )  # fmt: skip
    return invitation


# --- Suspension, revocation, pause ---------------------------------------------------------------


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


@transaction.atomic
def suspension_create(
    *,
    programme: Programme,
    scope: str,
    reason: str,
    actor=None,
    user=None,
    cohort: Cohort | None = None,
    kind: str = Suspension.Kind.SUSPENSION,
    ends_at=None,
    ip=None,
) -> Suspension:
    """Take access away, at once, from one person, a cohort or a whole programme: their sessions end,
    queued jobs are cancelled, running jobs stop at their next step, and they are told why."""
    suspension = suspension_build(
        programme=programme, scope=scope, reason=reason, actor=actor, user=user, cohort=cohort, kind=kind,
        ends_at=ends_at,
    )  # fmt: skip
    kind = suspension.kind
    suspension.save()
    affected = list(suspension_affected_users(suspension))
    _cut_off(affected, reason=f"Access {suspension.get_kind_display().lower()}: {suspension.reason}")
    audit(
        f"access.{kind}_started", actor=actor, subject=user, programme=programme, target=suspension.target,
        reason=suspension.reason, ip=ip, suspension=suspension.pk, scope=scope, affected=len(affected),
        ends_at=ends_at.isoformat() if ends_at else None,
    )  # fmt: skip
    transaction.on_commit(lambda: _notify(affected, suspension, lifted=False))
    log.warning("access.suspended scope=%s target=%s affected=%d", scope, suspension.target, len(affected))
    return suspension


def _cut_off(users, *, reason: str) -> None:
    from generation.job_actions import jobs_cancel_for_owners

    ids = [user.pk for user in users]
    sessions_end_all(user_ids=ids)
    jobs_cancel_for_owners(owner_ids=ids, reason=reason)


def sessions_end_all(*, user_ids) -> None:
    """End every session of these people: a new session epoch makes each one's auth hash stale (sessions
    allauth does not track included), and the tracked ones are deleted outright."""
    from allauth.usersessions.models import UserSession

    get_user_model().objects.filter(pk__in=user_ids).update(session_epoch=F("session_epoch") + 1)
    for session in UserSession.objects.filter(user_id__in=user_ids):
        session.end()


@transaction.atomic
def suspension_lift(*, suspension: Suspension, actor=None, reason: str = "", ip=None) -> Suspension:
    suspension = Suspension.objects.select_for_update().get(pk=suspension.pk)
    if suspension.lifted_at is not None:
        raise ValidationError("This has already been lifted.")
    suspension.lifted_at = timezone.now()
    suspension.lifted_by = actor
    suspension.lift_reason = reason.strip()
    suspension.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    affected = list(suspension_affected_users(suspension))
    audit(
        f"access.{suspension.kind}_lifted", actor=actor, subject=suspension.user, programme=suspension.programme,
        target=suspension.target, reason=suspension.lift_reason, ip=ip, suspension=suspension.pk,
    )  # fmt: skip
    transaction.on_commit(lambda: _notify(affected, suspension, lifted=True))
    return suspension


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


# --- Previews, for dry runs ----------------------------------------------------------------------


def invitations_preview(
    *, cohort: Cohort | None, programme: Programme, role: str, emails: list[str], days: int = INVITATION_DAYS
) -> tuple[list[str], dict[str, str]]:
    """What ``invitations_create`` would do: (addresses it would invite, {address: why it would skip it}).
    It runs ``invitations_create`` itself in a transaction that is then rolled back, so the answer follows
    the very same rules; nothing is kept and no email goes out, because sending waits for a commit."""
    with transaction.atomic():
        made, skipped = invitations_create(cohort=cohort, programme=programme, role=role, emails=emails, days=days)
        transaction.set_rollback(True)
    return [invitation.email for invitation in made], skipped


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
    """The suspension ``suspension_create`` makes, checked by every rule but not saved, so that
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
        programme=programme, scope=scope, kind=kind, user=user, cohort=cohort, reason=reason.strip(),
        ends_at=ends_at, created_by=actor,
    )  # fmt: skip
    suspension.full_clean()
    if cohort is not None and cohort.programme_id != programme.pk:
        raise ValidationError({"cohort": f"{cohort.name} is not a cohort of {programme.name}."})
    if user is not None and not Membership.objects.filter(user=user, programme=programme).exists():
        raise ValidationError({"user": f"{user.email} is not in {programme.name}."})
    return suspension


@transaction.atomic
def programme_resume(*, programme: Programme, actor=None, reason: str = "", ip=None) -> list[Suspension]:
    """End a programme's pause: lift every pause of ``programme`` that is in force now."""
    pauses = list(Suspension.objects.active().filter(programme=programme, scope=Suspension.Scope.PROGRAMME))
    if not pauses:
        raise ValidationError(f"{programme.name} is not paused.")
    return [suspension_lift(suspension=pause, actor=actor, reason=reason, ip=ip) for pause in pauses]
