"""Payouts: settle what a programme owes its testers in one currency, for a period, exactly once.

Each settled ledger entry gets one PaidEntry row (a one-to-one, so the database refuses a second
payment of any entry) and each tester paid gets a payout entry in their ledger for the negative sum.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.audit import audit
from access.policy import is_programme_admin
from core.csv_export import csv_text
from feedback.models import LedgerEntry, PaidEntry, Payout, PayoutLine
from feedback.notify import notify

CSV_FIELDS = ["record", "email", "name", "entry", "date", "kind", "reason", "severity", "points", "amount", "currency"]


def payable_entries(programme, currency: str, period_end: date):
    """Entries in ``currency`` made by the end of the period and not paid yet (earlier leftovers included)."""
    return (
        LedgerEntry.objects.filter(
            programme=programme, currency=currency, paid__isnull=True, created_at__date__lte=period_end
        )
        .exclude(kind=LedgerEntry.Kind.PAYOUT)
        .select_related("person")
        .order_by("person_id", "created_at", "pk")
    )


def payout_run(*, programme, currency: str, period_start: date, period_end: date, actor, ip=None) -> Payout:
    """Pay everyone with a positive sum due; a tester whose entries sum to nothing or less is carried over.
    A run with nobody to pay is refused, not recorded."""
    if not is_programme_admin(actor, programme):
        raise PermissionDenied("Only the programme's admins run payouts.")
    errors = {}
    if not re.fullmatch(r"[A-Z]{3}", currency or ""):
        errors["currency"] = "Use a three-letter currency code, e.g. USD."
    if period_start > period_end:
        errors["period_end"] = "The period ends before it starts."
    elif period_end >= timezone.localdate():
        errors["period_end"] = "Pay a period once it is over: it must end before today."
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return _payout_create(programme, currency, period_start, period_end, actor, ip)
    except IntegrityError:  # another admin ran it (or an overlapping one) at the same moment
        raise ValidationError(
            "This period was just paid in this currency, or its entries were: reload to see the payout."
        ) from None


def _payout_create(programme, currency, period_start, period_end, actor, ip) -> Payout:
    if Payout.objects.filter(
        programme=programme, currency=currency, period_start=period_start, period_end=period_end
    ).exists():
        raise ValidationError("This period has been paid in this currency already.")
    by_person: dict[int, list[LedgerEntry]] = defaultdict(list)
    for entry in payable_entries(programme, currency, period_end).select_for_update(of=("self",)):
        by_person[entry.person_id].append(entry)
    due = [
        (entries, amount)
        for entries in by_person.values()
        if (amount := sum((entry.amount for entry in entries), Decimal(0))) > 0
    ]
    if not due:
        # Recording an empty run would close the period to credits that arrive later.
        raise ValidationError(
            f"Nothing is due in {currency} for work credited up to {period_end:%Y-%m-%d}: there is nobody to pay, "
            "so no payout is recorded."
        )
    payout = Payout.objects.create(
        programme=programme, currency=currency, period_start=period_start, period_end=period_end, created_by=actor
    )
    paid_total = Decimal(0)
    for entries, amount in due:
        person = entries[0].person
        line = PayoutLine.objects.create(
            payout=payout, person=person, amount=amount, points=sum(entry.points for entry in entries)
        )
        PaidEntry.objects.bulk_create([PaidEntry(entry=entry, line=line) for entry in entries])
        settled = LedgerEntry.objects.create(
            person=person,
            programme=programme,
            kind=LedgerEntry.Kind.PAYOUT,
            source=line,
            amount=-amount,
            currency=currency,
            reason=f"Paid for {period_start:%Y-%m-%d} to {period_end:%Y-%m-%d}",
            created_by=actor,
        )
        PaidEntry.objects.create(entry=settled, line=line)
        paid_total += amount
        notify(
            person,
            f"Payout of {amount} {currency} for {period_start:%Y-%m-%d} to {period_end:%Y-%m-%d}.",
            "/feedback/statement/",
        )
    audit(
        "feedback.payout_run",
        actor=actor,
        programme=programme,
        target=payout,
        ip=ip,
        currency=currency,
        period_start=str(period_start),
        period_end=str(period_end),
        total=str(paid_total),
        people=payout.lines.count(),
    )
    return payout


def payout_csv(payout: Payout) -> str:
    """One total row per tester paid, followed by the entries that make it up."""
    # One joined query for every entry (a prefetch would send thousands of ids back as an IN list).
    settled: dict[int, list[LedgerEntry]] = defaultdict(list)
    paid_entries = (
        PaidEntry.objects.filter(line__payout=payout)
        .exclude(entry__kind=LedgerEntry.Kind.PAYOUT)
        .select_related("entry")
        .order_by("entry__created_at", "entry__pk")
    )
    for paid in paid_entries:
        settled[paid.line_id].append(paid.entry)
    rows = []
    for line in payout.lines.select_related("person").order_by("person__email"):
        person = line.person
        rows.append(
            {
                "record": "total",
                "email": person.email,
                "name": person.display_name,
                "points": line.points,
                "amount": line.amount,
                "currency": payout.currency,
            }
        )
        for entry in settled[line.pk]:
            rows.append(
                {
                    "record": "entry",
                    "email": person.email,
                    "name": person.display_name,
                    "entry": entry.pk,
                    "date": entry.created_at.isoformat(),
                    "kind": entry.kind,
                    "reason": entry.reason,
                    "severity": entry.severity,
                    "points": entry.points,
                    "amount": entry.amount,
                    "currency": entry.currency,
                }
            )
    return csv_text(CSV_FIELDS, rows)
