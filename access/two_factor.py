"""Two-factor authentication that nothing else stands in for.

allauth asks for the second factor at sign-in (its MFA login stage: until the code is given nobody is signed
in). Two things it leaves open are closed here:

- a session of an account that has an authenticator counts only if allauth's records of that session show
  the second step passed. A session made any other way (Django's own login, a script, a future door that
  forgets the step) is ended at its first request. A session signed in when the account had no authenticator
  stays good: it needed none, and setting one up in it proves the code.
- when programme staff or the operator's staff remove their last authenticator, every session of theirs ends,
  this one included, and the removal is audited.
"""

from __future__ import annotations

import logging

from allauth.account.authentication import get_authentication_records
from allauth.core import context
from allauth.mfa.models import Authenticator
from django.db.models.signals import post_delete
from django.dispatch import receiver

from access.audit import audit, client_ip
from access.models import STAFF_ROLES, Programme
from access.policy import has_second_factor, is_staff
from access.suspensions import sessions_end_all

log = logging.getLogger(__name__)

SESSION_KEY = "backlot_second_factor"
PASSED, NOT_NEEDED = "passed", "not_needed"
# Set on the request whose own session must end once its view has answered (the view still needs it).
ENDED_ATTRIBUTE = "backlot_sessions_ended"


def session_second_factor(request, user) -> bool:
    """Did this session sign ``user`` in as strongly as their account asks? Noted in the session, so a
    request costs no query once answered."""
    noted = request.session.get(SESSION_KEY)
    state = noted.get("state") if isinstance(noted, dict) and noted.get("user") == str(user.pk) else None
    if state in (PASSED, NOT_NEEDED):
        return True
    if any(record.get("method") == "mfa" for record in get_authentication_records(request, user)):
        state = PASSED
    elif not has_second_factor(user):
        state = NOT_NEEDED
    else:
        return False
    request.session[SESSION_KEY] = {"user": str(user.pk), "state": state}
    return True


def session_refused(request, user) -> None:
    """End a session that skipped the second factor, and put it on the record."""
    from django.contrib.auth import logout

    audit(
        "access.session_refused",
        subject=user,
        target=user.email,
        ip=client_ip(request),
        reason="Signed in without the second factor this account has set up.",
    )
    log.warning("access.session_refused user=%s", user.pk)
    logout(request)


def two_factor_removed(*, user, kind: str, actor=None, ip: str | None = None) -> bool:
    """Record that ``user`` lost an authenticator; if it was their last and they hold staff power, end every
    session of theirs. Returns whether the sessions were ended."""
    last = not has_second_factor(user)
    ended = last and is_staff(user)
    if ended:
        sessions_end_all(user_ids=[user.pk])
    # One event per programme they are staff of, so each programme's admins see it in their audit trail.
    programmes = list(Programme.objects.filter(memberships__user=user, memberships__role__in=STAFF_ROLES).distinct())
    reason = "Last authenticator removed" if last else "Authenticator removed"
    if ended:
        reason += ": every session of this staff account was ended"
    for programme in programmes or [None]:
        audit(
            "access.two_factor_removed",
            actor=actor,
            subject=user,
            programme=programme,
            target=user.email,
            ip=ip,
            reason=reason,
            kind=kind,
            last=last,
            sessions_ended=ended,
        )
    log.warning("access.two_factor_removed user=%s kind=%s last=%s sessions_ended=%s", user.pk, kind, last, ended)
    return ended


@receiver(post_delete, sender=Authenticator)
def authenticator_deleted(sender, instance, origin=None, **kwargs):
    # Whoever removes it (allauth's pages, the Django admin, a shell), but not when the account itself goes.
    removing_authenticators = isinstance(origin, Authenticator) or getattr(origin, "model", None) is Authenticator
    if not removing_authenticators or instance.type == Authenticator.Type.RECOVERY_CODES:
        return
    request = context.request
    actor = getattr(request, "user", None)
    ended = two_factor_removed(
        user=instance.user,
        kind=instance.type,
        actor=actor if actor and actor.is_authenticated else None,
        ip=client_ip(request),
    )
    if ended and actor is not None and actor.pk == instance.user_id:
        setattr(request, ENDED_ATTRIBUTE, True)
