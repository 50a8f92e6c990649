"""Every sign-in goes in the audit trail with the network it came from; a sign-in from a network
the person has never signed in from before is emailed to them, so a stolen password shows itself."""

from __future__ import annotations

import logging

from allauth.account.signals import user_logged_in
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.mail import send_mail
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils import timezone

from access.audit import audit_person, client_ip
from access.leaks import network_of
from access.models import AuditEvent
from core.metrics import SIGN_IN_FAILURES

log = logging.getLogger(__name__)

SIGNED_IN = "access.signed_in"


def sign_in_record(*, user, ip: str | None, user_agent: str = "") -> bool:
    """Record a sign-in; returns whether it came from a new network and the person was emailed.
    The first sign-in of an account is never new: there is nothing to compare it with."""
    network = network_of(ip)
    earlier = AuditEvent.objects.filter(action=SIGNED_IN, subject=user)
    is_new = earlier.exists() and not earlier.filter(data__network=network).exists()
    [event, *_] = audit_person(SIGNED_IN, actor=user, subject=user, target=user.email, ip=ip, network=network)
    if is_new:
        _tell(user, ip=ip, user_agent=user_agent, at=event.at)
        log.info("access.signed_in_new_network user=%s network=%s", user.pk, network)
    return is_new


def _tell(user, *, ip, user_agent: str, at) -> None:
    context = {
        "user": user,
        "ip": ip or "an unknown address",
        "user_agent": user_agent or "unknown",
        "at": timezone.localtime(at),
        "site_url": settings.SITE_URL.rstrip("/"),
    }
    send_mail(
        subject=f"New sign-in to Backlot from {ip or 'an unknown address'}",
        message=render_to_string("access/email/new_sign_in.txt", context),
        from_email=None,
        recipient_list=[user.email],
        fail_silently=True,  # a mail outage must not stop anyone signing in
    )


@receiver(user_logged_in)
def note_sign_in(sender, request, user, **kwargs):
    sign_in_record(user=user, ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300])


@receiver(user_login_failed)
def count_sign_in_failure(sender, credentials=None, request=None, **kwargs):
    """Every failed sign-in (allauth authenticates through Django's authenticate, which sends this) is counted
    for /metrics; the address and account stay out of the metric."""
    SIGN_IN_FAILURES.labels(reason="wrong_credentials").inc()


def sign_in_page(request, *args, **kwargs):
    """allauth's sign-in page, answering 429 (not 200) while an address or account is locked out after
    repeated failed sign-ins (ACCOUNT_RATE_LIMITS), so scripts and monitoring see the refusal too."""
    from allauth.account.views import login

    response = login(request, *args, **kwargs)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if form is not None and form.is_bound:
        codes = {error.code for error in form.non_field_errors().as_data()}
        if "too_many_login_attempts" in codes:
            response.status_code = 429
            SIGN_IN_FAILURES.labels(reason="locked_out").inc()
    return response
