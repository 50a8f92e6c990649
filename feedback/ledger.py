"""The contribution ledger: every credited contribution, correction and payout, append-only.

``ledger_credit`` is the one way work is credited, by the state change that earns it. A database
constraint on (kind, source) makes it exactly once, whatever the state does afterwards and however
many requests race: the second insert fails and the first entry is returned.

Separation of duties: credit that follows someone's judgement of the work (a confirmed bug, an accepted
finding or rating, a showcase use) is never given by the person who did the work; another of the
programme's admins (or a superuser) must. ``own_work_refuse`` is that rule, checked by each service before it
changes anything and again by ``ledger_credit`` itself. In a programme with one admin, that admin's own work
waits until a second admin is added or a superuser decides.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from access.audit import audit
from access.models import Membership, Role
from access.rates import rate_for
from feedback.models import LedgerEntry
from feedback.notify import notify

CREDIT_KINDS = {
    LedgerEntry.Kind.BUG,
    LedgerEntry.Kind.FINDING,
    LedgerEntry.Kind.FEEDBACK,
    LedgerEntry.Kind.SUBMISSION,
    LedgerEntry.Kind.PRIZE,
    LedgerEntry.Kind.SHOWCASE,
}
# Credited by someone's judgement of the work (the others follow a competition's published rules).
JUDGED_KINDS = {LedgerEntry.Kind.BUG, LedgerEntry.Kind.FINDING, LedgerEntry.Kind.FEEDBACK, LedgerEntry.Kind.SHOWCASE}


def is_own_work(actor, person) -> bool:
    return actor is not None and person is not None and actor.pk == person.pk


def own_work_refuse(*, actor, person, what: str) -> None:
    """Refuse ``actor`` crediting their own work; ``what`` completes "You cannot ...", e.g. "confirm your
    own bug report"."""
    if is_own_work(actor, person):
        raise PermissionDenied(
            f"You cannot {what}: nobody credits their own work. Another admin of the programme (or the operator's "
            "superuser) must; in a programme with one admin it waits until a second admin is added."
        )


def own_work_note(*, programme, what: str) -> str:
    """What an admin's page says in place of crediting their own ``what`` (separation of duties,
    own_work_refuse above), and what a programme with one admin does: the item waits."""
    note = (
        f"This is your own {what}: another admin of {programme.name} (or the operator's superuser) decides on it; "
        "nobody credits their own work."
    )
    admins = Membership.objects.filter(programme=programme, role=Role.ADMIN).values("user").distinct().count()
    if admins < 2:
        note += " You are this programme's only admin, so it waits until a second admin is invited."
    return note


def _source_key(source) -> dict:
    return {"source_type": ContentType.objects.get_for_model(source), "source_id": str(source.pk)}


def ledger_entry_for(kind: str, source) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(kind=kind, **_source_key(source)).first()


def ledger_credit(
    *, person, programme, kind: str, source, reason: str, severity: str = "", at=None, actor=None
) -> tuple[LedgerEntry, bool]:
    """Credit ``person`` for ``source`` at the rate published for (kind, severity) at ``at``.
    Returns (entry, created); a source already credited for ``kind`` returns its entry unchanged."""
    if kind not in CREDIT_KINDS:
        raise ValidationError(f"{kind!r} is not a kind of contribution that earns credit.")
    existing = ledger_entry_for(kind, source)
    if existing is not None:
        return existing, False
    if kind in JUDGED_KINDS:
        own_work_refuse(actor=actor, person=person, what="credit your own work")
    at = at or timezone.now()
    rate = rate_for(programme, kind=kind, severity=severity, at=at)
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves the caller's transaction usable
            entry = LedgerEntry.objects.create(
                person=person,
                programme=programme,
                kind=kind,
                severity=severity,
                rate=rate,
                points=rate.points if rate else 0,
                amount=rate.amount if rate else Decimal("0"),
                currency=rate.currency if rate else "",
                reason=reason[:300],
                created_at=at,
                created_by=actor,
                **_source_key(source),
            )
    except IntegrityError:
        return LedgerEntry.objects.get(kind=kind, **_source_key(source)), False
    earned = f"{entry.points} points, {entry.amount} {entry.currency}" if rate else "no rate published yet"
    notify(person, f"Credited: {reason} ({earned}).", "/feedback/statement/")
    return entry, True


@transaction.atomic
def ledger_correct(*, entry: LedgerEntry, points: int, amount, reason: str, actor=None, ip=None) -> LedgerEntry:
    """A new entry that corrects ``entry`` by (points, amount); an entry is corrected at most once."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why the entry is corrected: the tester reads it on their statement."})
    if entry.kind == LedgerEntry.Kind.PAYOUT:
        raise ValidationError("Payouts are not corrected; they are settled money.")
    try:
        amount = Decimal(str(amount)).quantize(Decimal("0.01"))
    except ArithmeticError:
        raise ValidationError({"amount": "The amount must be a number, e.g. -25.00."}) from None
    try:
        with transaction.atomic():
            correction = LedgerEntry.objects.create(
                person=entry.person,
                programme=entry.programme,
                kind=LedgerEntry.Kind.CORRECTION,
                severity=entry.severity,
                points=points,
                amount=amount,
                currency=entry.currency,
                reason=reason.strip()[:300],
                created_by=actor,
                **_source_key(entry),
            )
    except IntegrityError:
        raise ValidationError("This entry has already been corrected; correct the correction instead.") from None
    audit(
        "feedback.ledger_corrected",
        actor=actor,
        subject=entry.person,
        programme=entry.programme,
        target=correction,
        reason=correction.reason,
        ip=ip,
        entry=entry.pk,
        points=points,
        amount=str(amount),
    )
    notify(entry.person, f"Your ledger was corrected: {correction.reason}", "/feedback/statement/")
    return correction


def ledger_chain(entry: LedgerEntry) -> list[LedgerEntry]:
    """``entry``, its correction, that correction's correction, and so on: one line, since each entry is
    corrected at most once (the database refuses a second correction of the same entry)."""
    chain = [entry]
    while (correction := ledger_entry_for(LedgerEntry.Kind.CORRECTION, chain[-1])) is not None:
        chain.append(correction)
    return chain


def _chain_adjust(entry: LedgerEntry, *, points: int, amount: Decimal, reason: str, actor) -> LedgerEntry | None:
    """Bring the net of ``entry``'s chain to (points, amount) with one correction of its last link."""
    chain = ledger_chain(entry)
    delta_points = points - sum(link.points for link in chain)
    delta_amount = amount - sum((link.amount for link in chain), Decimal(0))
    if not delta_points and not delta_amount:
        return None
    return ledger_correct(entry=chain[-1], points=delta_points, amount=delta_amount, reason=reason, actor=actor)


def ledger_withdraw(*, entry: LedgerEntry, reason: str, actor=None) -> LedgerEntry | None:
    """Take back all that ``entry`` (with its corrections) credits: the correction that does it, or None when
    nothing is left to take back."""
    return _chain_adjust(entry, points=0, amount=Decimal(0), reason=reason, actor=actor)


def ledger_restore(*, entry: LedgerEntry, withdrawal: LedgerEntry, reason: str, actor=None) -> LedgerEntry | None:
    """Give back what ``withdrawal`` (made by ledger_withdraw) took, once: the chain's net returns to what it
    was before the withdrawal, however it was corrected since."""
    if entry.kind in JUDGED_KINDS:
        own_work_refuse(actor=actor, person=entry.person, what="credit your own work")
    return _chain_adjust(entry, points=-withdrawal.points, amount=-withdrawal.amount, reason=reason, actor=actor)


def ledger_for(person, programme=None) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(person=person).select_related("rate", "programme")
    return entries.filter(programme=programme) if programme is not None else entries


@dataclass
class PeriodTotal:
    period: str
    points: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)  # a plain dict: templates look up "items" on it


@dataclass
class Statement:
    entries: list[LedgerEntry]
    periods: list[PeriodTotal]
    points: int
    earned: dict[str, Decimal]
    paid: dict[str, Decimal]
    due: dict[str, Decimal]


def statement_for(person, programme=None) -> Statement:
    """Every entry, totals per month, and what is due per currency (earned less paid)."""
    entries = list(ledger_for(person, programme))
    periods: dict[str, PeriodTotal] = {}
    earned: dict[str, Decimal] = defaultdict(Decimal)
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        key = timezone.localtime(entry.created_at).strftime("%Y-%m")
        total = periods.setdefault(key, PeriodTotal(key))
        total.points += entry.points
        if entry.currency:
            total.amounts[entry.currency] = total.amounts.get(entry.currency, Decimal(0)) + entry.amount
            (paid if entry.kind == LedgerEntry.Kind.PAYOUT else earned)[entry.currency] += entry.amount
    due = {currency: earned[currency] + paid.get(currency, Decimal(0)) for currency in earned}
    return Statement(
        entries=entries,
        periods=sorted(periods.values(), key=lambda total: total.period, reverse=True),
        points=sum(entry.points for entry in entries),
        earned=dict(earned),
        paid={currency: -amount for currency, amount in paid.items()},
        due=due,
    )
