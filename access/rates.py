"""Published contribution rates: what each kind of credited work earns, in points and money."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from access.audit import audit
from access.models import ContributionRate


def rates_current(programme, at=None) -> list[ContributionRate]:
    """The rate in force for each (kind, severity) of ``programme``."""
    at = at or timezone.now()
    current: dict[tuple[str, str], ContributionRate] = {}
    for rate in ContributionRate.objects.filter(programme=programme, effective_from__lte=at).order_by(
        "kind", "severity", "-effective_from", "-pk"
    ):
        current.setdefault((rate.kind, rate.severity), rate)
    return list(current.values())


def rate_for(programme, *, kind: str, severity: str = "", at=None) -> ContributionRate | None:
    """The rate that applies to one contribution: its severity's rate, else the kind's general rate."""
    at = at or timezone.now()
    rates = ContributionRate.objects.filter(programme=programme, kind=kind, effective_from__lte=at)
    return (
        rates.filter(severity=severity).order_by("-effective_from", "-pk").first()
        or rates.filter(severity="").order_by("-effective_from", "-pk").first()
    )


@transaction.atomic
def rate_publish(
    *,
    programme,
    kind: str,
    points: int,
    amount,
    currency: str,
    severity: str = "",
    effective_from=None,
    actor=None,
    ip=None,
) -> ContributionRate:
    errors = {}
    if kind not in ContributionRate.Kind.values:
        errors["kind"] = f"Unknown kind {kind!r}. Choose one of: {', '.join(ContributionRate.Kind.values)}."
    if severity not in ContributionRate.Severity.values:
        errors["severity"] = f"Unknown severity {severity!r}."
    try:
        amount = Decimal(str(amount)).quantize(Decimal("0.01"))
        if amount < 0:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["amount"] = "The amount must be a number of at least 0, e.g. 25.00."
    if not isinstance(points, int) or points < 0:
        errors["points"] = "Points must be a whole number of at least 0."
    if not re.fullmatch(r"[A-Z]{3}", currency or ""):
        errors["currency"] = "Use a three-letter currency code, e.g. USD."
    effective_from = effective_from or timezone.now()
    if effective_from < timezone.now() - timedelta(minutes=1):
        errors["effective_from"] = "Rates are never retroactive: choose now or a later time."
    if errors:
        raise ValidationError(errors)
    rate = ContributionRate.objects.create(
        programme=programme,
        kind=kind,
        severity=severity,
        points=points,
        amount=amount,
        currency=currency,
        effective_from=effective_from,
        published_by=actor,
    )
    audit(
        "access.rate_published",
        actor=actor,
        programme=programme,
        target=rate,
        ip=ip,
        kind=kind,
        severity=severity,
        points=points,
        amount=str(amount),
        currency=currency,
        effective_from=effective_from.isoformat(),
    )
    return rate
