"""The append-only audit trail: one call per event, from every service that changes access."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from access.models import AuditEvent, Programme
from core.client_address import client_ip

# client_ip: the one resolver, re-exported for the views that record events.
__all__ = ["audit", "audit_actions", "audit_person", "audit_person_filter", "client_ip", "programme_audit_events"]


def audit(
    action: str,
    *,
    actor=None,
    subject=None,
    programme=None,
    target="",
    reason: str = "",
    ip: str | None = None,
    **data,
) -> AuditEvent:
    """Record that ``actor`` did ``action`` (dotted, e.g. ``access.suspended``) to ``subject``/``target``."""
    return AuditEvent.objects.create(
        action=action,
        actor=actor if actor and actor.is_authenticated else None,
        subject=subject,
        programme=programme,
        target=str(target)[:255],
        reason=reason,
        ip=ip,
        data=data,
    )


def audit_person(action: str, *, subject, **fields) -> list[AuditEvent]:
    """An event about a person rather than one programme (their credentials, sign-ins, leak alerts, data
    export): recorded once for each programme they belong to, so that every programme's admins see it in
    their trail; once with no programme (for the operator's staff) for someone in none."""
    from access.models import Programme

    programmes = list(Programme.objects.filter(memberships__user=subject).distinct().order_by("pk"))
    return [audit(action, subject=subject, programme=programme, **fields) for programme in programmes or [None]]


def programme_audit_events(programme: Programme) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(programme=programme).select_related("actor", "subject")


def audit_actions(programme: Programme) -> list[str]:
    return list(
        AuditEvent.objects.filter(programme=programme).order_by("action").values_list("action", flat=True).distinct()
    )


def audit_person_filter(value: str) -> Q:
    """Events done by, done to, or aimed at (an invitation's address) a person whose email contains ``value``."""
    return Q(actor__email__icontains=value) | Q(subject__email__icontains=value) | Q(target__icontains=value)
