"""Payouts: a CSV per currency with each tester's total and entries, matching the ledger, recorded in the
ledger so that nothing is ever paid twice."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from access.models import AuditEvent, ContributionRate
from feedback import reports
from feedback.ledger import ledger_correct, ledger_credit, statement_for
from feedback.models import LedgerEntry, PaidEntry, Payout, Report
from feedback.payouts import payout_csv, payout_run
from tests.feedback.test_ledger import _race

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_rates(programme):
    """Rates in force for the past year (set up directly: the service refuses retroactive rates)."""
    since = timezone.now() - timedelta(days=365)
    for kind, severity, amount, currency in [
        ("bug", "", "10", "USD"),
        ("bug", "high", "40", "USD"),
        ("feedback", "", "2", "EUR"),
    ]:
        ContributionRate.objects.create(
            programme=programme,
            kind=kind,
            severity=severity,
            points=int(amount),
            amount=amount,
            currency=currency,
            effective_from=since,
        )


def _credit(person, programme, *, days_ago, severity="", kind="bug"):
    report = reports.report_file(reporter=person, kind="bug", title=f"{kind} {days_ago}", steps="s")
    return ledger_credit(
        person=person,
        programme=programme,
        kind=kind,
        source=report,
        severity=severity,
        reason=f"{kind} from {days_ago} days ago",
        at=timezone.now() - timedelta(days=days_ago),
    )[0]


def _rows(content: str):
    return list(csv.DictReader(io.StringIO(content)))


def test_an_admin_pays_a_period_and_the_csv_matches_the_ledger(
    admin_client, admin_user, tester, tester2, programme, old_rates
):
    _credit(tester, programme, days_ago=10, severity="high")
    _credit(tester, programme, days_ago=9)
    _credit(tester2, programme, days_ago=8)
    _credit(tester2, programme, days_ago=8, kind="feedback")  # EUR: paid in its own payout
    _credit(tester, programme, days_ago=0)  # today: after the period
    start, end = timezone.localdate() - timedelta(days=30), timezone.localdate() - timedelta(days=1)

    response = admin_client.post(
        "/manage/alpha/feedback/payouts/", {"currency": "usd", "period_start": start, "period_end": end}
    )
    assert response.status_code == 302
    payout = Payout.objects.get(currency="USD")
    rows = _rows(admin_client.get(f"/manage/alpha/feedback/payouts/{payout.pk}.csv").content.decode())
    totals = {row["email"]: Decimal(row["amount"]) for row in rows if row["record"] == "total"}
    assert totals == {tester.email: Decimal("50.00"), tester2.email: Decimal("10.00")}
    for email, total in totals.items():
        entries = [Decimal(row["amount"]) for row in rows if row["record"] == "entry" and row["email"] == email]
        assert sum(entries) == total
        ledger_paid = LedgerEntry.objects.get(person__email=email, kind="payout", currency="USD")
        assert ledger_paid.amount == -total  # the payout is in the ledger
    paid_ids = {int(row["entry"]) for row in rows if row["record"] == "entry"}
    assert paid_ids == set(PaidEntry.objects.exclude(entry__kind="payout").values_list("entry_id", flat=True))

    assert statement_for(tester).due == {"USD": Decimal("10.00")}  # today's credit waits for the next period
    assert statement_for(tester2).due == {"USD": Decimal("0.00"), "EUR": Decimal("2.00")}
    assert AuditEvent.objects.filter(action="feedback.payout_run", actor=admin_user).exists()

    again = admin_client.post(
        "/manage/alpha/feedback/payouts/", {"currency": "USD", "period_start": start, "period_end": end}
    )
    assert again.status_code == 400 and "paid in this currency already" in again.content.decode()
    with pytest.raises(ValidationError, match="Nothing is due"):  # nothing is paid twice
        payout_run(programme=programme, currency="USD", period_start=end, period_end=end, actor=admin_user)
    eur = payout_run(programme=programme, currency="EUR", period_start=start, period_end=end, actor=admin_user)
    assert [(line.person, line.amount) for line in eur.lines.all()] == [(tester2, Decimal("2.00"))]


def test_a_correction_after_payment_is_settled_in_the_next_payout(admin_user, tester, programme, old_rates):
    entry = _credit(tester, programme, days_ago=20, severity="high")
    first_end = timezone.localdate() - timedelta(days=15)
    payout_run(
        programme=programme,
        currency="USD",
        period_start=first_end - timedelta(days=30),
        period_end=first_end,
        actor=admin_user,
    )
    correction = ledger_correct(entry=entry, points=-30, amount="-30", reason="Was medium", actor=admin_user)
    LedgerEntry.objects.filter(pk=correction.pk)  # the correction is a new entry
    _credit(tester, programme, days_ago=0)
    assert statement_for(tester).due == {"USD": Decimal("-20.00")}
    # A negative sum is not paid out; it is carried to the next payout.
    yesterday = timezone.localdate() - timedelta(days=1)
    with pytest.raises(ValidationError, match="Nothing is due"):
        payout_run(programme=programme, currency="USD", period_start=first_end, period_end=yesterday, actor=admin_user)
    assert Payout.objects.count() == 1
    assert not PaidEntry.objects.filter(entry=correction).exists()


def test_a_payout_of_thousands_of_entries_and_its_csv(admin_user, tester, tester2, programme, old_rates):
    """Sized like a busy period: 3000 entries (bulk-made here; the service makes them one by one)."""
    from django.contrib.contenttypes.models import ContentType

    reports = Report.objects.bulk_create(
        [Report(kind="bug", programme=programme, reporter=tester, title=f"r{index}") for index in range(3000)]
    )
    at = timezone.now() - timedelta(days=2)
    report_type = ContentType.objects.get_for_model(Report)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                person=tester if index % 3 else tester2,
                programme=programme,
                kind="bug",
                source_type=report_type,
                source_id=str(report.pk),
                amount="10",
                points=10,
                currency="USD",
                reason="bulk",
                created_at=at,
            )
            for index, report in enumerate(reports)
        ]
    )
    end = timezone.localdate() - timedelta(days=1)
    payout = payout_run(programme=programme, currency="USD", period_start=end, period_end=end, actor=admin_user)
    rows = _rows(payout_csv(payout))
    assert len([row for row in rows if row["record"] == "entry"]) == 3000
    assert {row["email"]: row["amount"] for row in rows if row["record"] == "total"} == {
        tester.email: "20000.00",
        tester2.email: "10000.00",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"currency": "dollars"}, "three-letter"),
        ({"period_end": "today"}, "must end before today"),
        ({"period_start": "2026-02-01", "period_end": "2026-01-01"}, "ends before it starts"),
        ({"period_end": "not a date"}, "Enter a valid date"),
    ],
)
def test_bad_payouts_are_refused_and_pay_nothing(admin_client, tester, programme, old_rates, data, message):
    _credit(tester, programme, days_ago=3)
    today = timezone.localdate()
    form = {"currency": "USD", "period_start": today - timedelta(days=10), "period_end": today - timedelta(days=1)}
    form |= {key: (today if value == "today" else value) for key, value in data.items()}
    response = admin_client.post("/manage/alpha/feedback/payouts/", form)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Payout.objects.exists() and not LedgerEntry.objects.filter(kind="payout").exists()


def test_a_payout_with_nobody_to_pay_is_refused_and_the_period_stays_open(
    admin_client, admin_user, tester, programme, old_rates
):
    today = timezone.localdate()
    start, end = today - timedelta(days=10), today - timedelta(days=1)
    form = {"currency": "USD", "period_start": start, "period_end": end}
    response = admin_client.post("/manage/alpha/feedback/payouts/", form)
    assert response.status_code == 400 and "Nothing is due in USD" in response.content.decode()
    assert "Paid 0 testers" not in response.content.decode()
    assert not Payout.objects.exists() and not AuditEvent.objects.filter(action="feedback.payout_run").exists()

    # Money due in another currency is not due in this one.
    _credit(tester, programme, days_ago=3, kind="feedback")
    with pytest.raises(ValidationError, match="Nothing is due"):
        payout_run(programme=programme, currency="USD", period_start=start, period_end=end, actor=admin_user)

    # Credit that arrives later for the same period is paid by a run over that period.
    _credit(tester, programme, days_ago=2, severity="high")
    payout = payout_run(programme=programme, currency="USD", period_start=start, period_end=end, actor=admin_user)
    [line] = payout.lines.all()
    assert (line.person, line.amount) == (tester, Decimal("40.00"))


def test_testers_never_reach_payouts(client, tester, tester2, programme, admin_user, old_rates):
    _credit(tester, programme, days_ago=3)
    end = timezone.localdate() - timedelta(days=1)
    payout = payout_run(programme=programme, currency="USD", period_start=end, period_end=end, actor=admin_user)
    for person in (tester, tester2):
        client.force_login(person)
        assert client.get("/manage/alpha/feedback/payouts/").status_code == 404
        assert client.get(f"/manage/alpha/feedback/payouts/{payout.pk}.csv").status_code == 404
        assert (
            client.post(
                "/manage/alpha/feedback/payouts/", {"currency": "USD", "period_start": end, "period_end": end}
            ).status_code
            == 404
        )
    with pytest.raises(Exception, match="admins"):
        payout_run(programme=programme, currency="USD", period_start=end, period_end=end, actor=tester)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent payouts need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_payouts_never_pay_an_entry_twice(admin_user, tester, tester2, programme, old_rates):
    for person in (tester, tester2):
        for days in (5, 4, 3):
            _credit(person, programme, days_ago=days)
    end = timezone.localdate() - timedelta(days=1)
    periods = [(end - timedelta(days=days), end) for days in (10, 10, 7, 6, 5, 10)]

    def run(period):
        def work():
            try:
                return payout_run(
                    programme=programme, currency="USD", period_start=period[0], period_end=period[1], actor=admin_user
                )
            except ValidationError as error:
                return error

        return work

    results = _race(len(periods), lambda: [run(period)() for period in periods])
    assert all(isinstance(result, list) for result in results)
    paid = LedgerEntry.objects.filter(kind="payout")
    assert sorted(entry.amount for entry in paid) == [Decimal("-30.00"), Decimal("-30.00")]
    assert PaidEntry.objects.exclude(entry__kind="payout").count() == 6
    for person in (tester, tester2):
        assert statement_for(person).due == {"USD": Decimal("0.00")}
