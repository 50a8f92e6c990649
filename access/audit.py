"""The append-only audit trail: one call per event, from every service that changes access."""

from __future__ import annotations

from access.models import AuditEvent
from config.client_address import client_ip

__all__ = ["audit", "client_ip"]  # client_ip: the one resolver, re-exported for the views that record events


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
        action=action, actor=actor if actor and actor.is_authenticated else None, subject=subject,
        programme=programme, target=str(target)[:255], reason=reason, ip=ip, data=data,
    )  # fmt: skip
