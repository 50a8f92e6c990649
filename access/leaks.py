"""Leak detection: credentials that look shared or exposed are suspended at once and sent to the
admins for review. Thresholds are settings (LEAK_*).

Three signals: a session or token used from more distinct networks than LEAK_MAX_NETWORKS within
LEAK_WINDOW_MINUTES; a burst of jobs far above the person's own history; one of our token strings
found in text submitted to the platform.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from access import hooks
from access.audit import audit_person
from access.models import ApiToken, CredentialSighting, LeakAlert, Membership, Role
from access.tokens import token_lookup, tokens_in_text

log = logging.getLogger(__name__)


def network_of(ip: str | None) -> str:
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    prefix = settings.LEAK_IPV4_PREFIX if address.version == 4 else settings.LEAK_IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def session_credential(session_key: str) -> str:
    # Never store a live session key: a digest identifies it well enough.
    return "session:" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def token_credential(record: ApiToken) -> str:
    return f"token:{record.pk}"


NOTED_SECONDS = 30


def credential_sighted(*, credential: str, user, ip: str | None) -> int:
    """Record that ``credential`` was used from ``ip``; returns the networks seen within the window. One query
    reads this credential's sightings; a write only for a new network, or for one last noted more than
    NOTED_SECONDS ago. Within NOTED_SECONDS of a noting from the same network the count then is answered from
    the cache, with no query (every request of a session asks): a request from any other network still reads
    and counts them all, so a credential used from one network too many is caught by that request."""
    network = network_of(ip)
    noted_key = "access.sighted:" + hashlib.sha256(f"{credential} {network}".encode()).hexdigest()
    noted = cache.get(noted_key)
    if noted is not None:
        return noted
    count = _credential_sighted(credential=credential, user=user, network=network)
    if not too_many_networks(count):
        cache.set(noted_key, count, min(NOTED_SECONDS, settings.LEAK_WINDOW_MINUTES * 60))
    return count


def _credential_sighted(*, credential: str, user, network: str) -> int:
    now = timezone.now()
    since = now - timedelta(minutes=settings.LEAK_WINDOW_MINUTES)
    sightings = CredentialSighting.objects.filter(credential=credential).filter(
        Q(network=network) | Q(last_seen__gte=since)
    )
    others, seen_here = 0, None
    for pk, seen_network, last_seen in sightings.values_list("pk", "network", "last_seen"):
        if seen_network == network:
            seen_here = (pk, last_seen)
        else:
            others += 1
    if seen_here is None:
        try:
            with transaction.atomic():
                CredentialSighting.objects.create(credential=credential, user=user, network=network)
        except IntegrityError:  # the same first sighting from a concurrent request
            pass
    elif now - seen_here[1] > timedelta(seconds=NOTED_SECONDS):
        CredentialSighting.objects.filter(pk=seen_here[0]).update(last_seen=now)
    elif seen_here[1] < since:  # a window shorter than 30 seconds: not noted again, so not counted
        return others
    return others + 1


def too_many_networks(count: int) -> bool:
    return count > settings.LEAK_MAX_NETWORKS


def _open_alert(credential: str) -> LeakAlert | None:
    return LeakAlert.objects.filter(credential=credential, state=LeakAlert.State.OPEN).first()


@transaction.atomic
def alert_raise(
    *, kind: str, user, credential: str, token: ApiToken | None = None, session_key: str | None = None, **details
) -> LeakAlert:
    """Suspend the credential (a token is suspended, a session ended) and open an alert for the
    admins, once per credential while the alert is open."""
    existing = _open_alert(credential)
    if existing:
        return existing
    if token is not None:
        ApiToken.objects.filter(pk=token.pk, suspended_at__isnull=True).update(suspended_at=timezone.now())
    if session_key:
        session_end(session_key)
    alert = LeakAlert.objects.create(kind=kind, user=user, token=token, credential=credential, details=details)
    audit_person(
        "access.leak_alert", subject=user, target=credential, reason=alert.get_kind_display(), kind=kind, **details
    )
    transaction.on_commit(lambda: _tell_admins(alert))
    log.warning("access.leak_alert kind=%s user=%s credential=%s", kind, user.pk, credential)
    return alert


def session_end(session_key: str) -> None:
    from allauth.usersessions.models import UserSession

    import_module(settings.SESSION_ENGINE).SessionStore(session_key).delete()
    UserSession.objects.filter(session_key=session_key).delete()


def _tell_admins(alert: LeakAlert) -> None:
    programmes = Membership.objects.filter(user=alert.user).values("programme")
    admins = Membership.objects.filter(programme__in=programmes, role=Role.ADMIN).values_list("user__email", flat=True)
    recipients = sorted(set(admins))
    if recipients:
        send_mail(
            subject=f"Backlot leak alert: {alert.get_kind_display()} ({alert.user.email})",
            message=(
                f"{alert.get_kind_display()}.\nPerson: {alert.user.email}\nCredential: {alert.credential}\n"
                f"Details: {alert.details}\n\nThe credential is suspended until you confirm or lift the alert at "
                f"{settings.SITE_URL.rstrip('/')}/leak-alerts/"
            ),
            from_email=None,
            recipient_list=recipients,
            fail_silently=True,
        )


def text_scan(text: str, *, where: str, submitted_by) -> list[LeakAlert]:
    """Suspend every live Backlot token found in ``text`` (a prompt, a bug report)."""
    alerts = []
    for found in tokens_in_text(text):
        record = token_lookup(found)
        if record is not None and record.state == "active":
            alerts.append(
                alert_raise(
                    kind=LeakAlert.Kind.EXPOSED,
                    user=record.user,
                    credential=token_credential(record),
                    token=record,
                    where=where,
                    submitted_by=submitted_by.email if submitted_by else None,
                )
            )
    return alerts


def burst_check(
    *, user, credential: str, token: ApiToken | None = None, session_key: str | None = None
) -> LeakAlert | None:
    """Jobs submitted in the last hour against the person's hourly average over the past two weeks."""
    now = timezone.now()
    last_hour = hooks.jobs_submitted(user=user, since=now - timedelta(hours=1))
    if last_hour < settings.LEAK_BURST_MIN_JOBS:
        return None
    history = hooks.jobs_submitted(user=user, since=now - timedelta(days=14), until=now - timedelta(hours=1))
    hourly = history / (14 * 24 - 1)
    if last_hour <= settings.LEAK_BURST_FACTOR * max(hourly, 1.0):
        return None
    return alert_raise(
        kind=LeakAlert.Kind.BURST,
        user=user,
        credential=credential,
        token=token,
        session_key=session_key,
        jobs_last_hour=last_hour,
        usual_per_hour=round(hourly, 2),
    )


def credential_suspended(credential: str) -> LeakAlert | None:
    return _open_alert(credential)


@transaction.atomic
def alert_decide(*, alert: LeakAlert, actor, confirm: bool, note: str = "", ip=None) -> LeakAlert:
    """Confirm (the token is revoked for good) or lift (the credential works again)."""
    from django.core.exceptions import ValidationError

    from access.tokens import token_revoke

    alert = LeakAlert.objects.select_for_update().get(pk=alert.pk)
    if alert.state != LeakAlert.State.OPEN:
        raise ValidationError(f"This alert was already {alert.state}.")
    alert.state = LeakAlert.State.CONFIRMED if confirm else LeakAlert.State.LIFTED
    alert.decided_at, alert.decided_by, alert.decision_note = timezone.now(), actor, note.strip()
    alert.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
    # The evidence is settled: a credential that is lifted starts counting networks afresh.
    CredentialSighting.objects.filter(credential=alert.credential).delete()
    if alert.token_id:
        if confirm and alert.token.revoked_at is None:
            token_revoke(record=alert.token, actor=actor, reason=f"Leak confirmed: {alert.get_kind_display()}", ip=ip)
        elif not confirm:
            ApiToken.objects.filter(pk=alert.token_id).update(suspended_at=None)
    audit_person(
        "access.leak_confirmed" if confirm else "access.leak_lifted",
        actor=actor,
        subject=alert.user,
        target=alert.credential,
        reason=alert.decision_note,
        ip=ip,
        alert=alert.pk,
    )
    return alert


def request_credential(request) -> dict:
    """The credential a request came with, as keyword arguments for burst_check and alert_raise:
    its API token, or its session (empty when it has neither)."""
    if isinstance(getattr(request, "auth", None), ApiToken):
        return {"credential": token_credential(request.auth), "token": request.auth}
    key = request.session.session_key if hasattr(request, "session") else None
    return {"credential": session_credential(key), "session_key": key} if key else {}


def alerts_open_count(programme) -> int:
    """Open leak alerts about people in ``programme``: what its dashboard points its admins at."""
    people = Membership.objects.filter(programme=programme).values("user")
    return LeakAlert.objects.filter(state=LeakAlert.State.OPEN, user__in=people).count()
