"""Invitations: the only way in (invariant 1). Single-use links that expire; accepting one makes the
membership and the grant."""

from __future__ import annotations

import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from access.audit import audit
from access.models import (
    TESTER_ROLES,
    Cohort,
    Invitation,
    Membership,
    Programme,
    Role,
    token_digest,
)
from access.people import normalise_email
from access.programmes import membership_add

INVITATION_DAYS = 14


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
            email = normalise_email(raw)
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
            email=email,
            programme=programme,
            role=role,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).exists():
            skipped[email] = "already has an open invitation (resend it instead)"
            continue
        if User.objects.filter(email__iexact=email, is_active=False).exists():
            skipped[email] = "belongs to a deactivated account"
            continue
        token = secrets.token_urlsafe(32)
        with transaction.atomic():
            invitation = Invitation.objects.create(
                programme=programme,
                cohort=cohort,
                role=role,
                email=email,
                token_digest=token_digest(token),
                invited_by=actor,
                expires_at=timezone.now() + timedelta(days=days),
            )
            audit(
                "access.invitation_sent",
                actor=actor,
                programme=programme,
                target=email,
                ip=ip,
                role=role,
                cohort=cohort.name if cohort else None,
                invitation=invitation.pk,
            )
            transaction.on_commit(lambda invitation=invitation, token=token: _invitation_send(invitation, token))
        made.append(invitation)
    return made, skipped


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
        "access.invitation_revoked",
        actor=actor,
        programme=invitation.programme,
        target=invitation.email,
        ip=ip,
        reason=reason,
    )
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
        "access.invitation_accepted",
        actor=user,
        subject=user,
        programme=invitation.programme,
        target=invitation.email,
        ip=ip,
        role=invitation.role,
    )
    return invitation


def programme_invitations(programme: Programme) -> QuerySet[Invitation]:
    return Invitation.objects.filter(programme=programme).select_related("cohort", "invited_by")
