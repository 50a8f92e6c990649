"""Invariant 6: every credited contribution reaches the tester's ledger automatically, at the published
rate, exactly once; the ledger is append-only and corrections are new entries."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from access.models import AuditEvent, ContributionRate
from access.rates import rate_publish
from feedback import ratings, reports
from feedback.ledger import ledger_correct, ledger_credit, statement_for
from feedback.models import LedgerEntry, Notification, Report
from tests.feedback.conftest import finished_clip

pytestmark = pytest.mark.django_db


def _bug(reporter, *, severity="high", job=None, title="The last frames turn grey"):
    return reports.report_file(
        reporter=reporter,
        kind="bug",
        title=title,
        severity=severity,
        job=job,
        steps="Render any prompt with 9 frames",
        expected="colour",
        actual="grey",
    )


def _entries(person, kind=None):
    entries = LedgerEntry.objects.filter(person=person)
    return list(entries.filter(kind=kind) if kind else entries)


def test_confirming_a_bug_credits_its_reporter_at_the_published_severity_rate(tester, admin_user, rates, clip):
    report = _bug(tester, job=clip)
    assert _entries(tester) == []

    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)

    [entry] = _entries(tester)
    assert (entry.kind, entry.severity, entry.points, entry.amount, entry.currency) == (
        "bug",
        "high",
        50,
        Decimal("40.00"),
        "USD",
    )
    assert entry.source == report
    assert entry.rate == ContributionRate.objects.get(kind="bug", severity="high")
    report.refresh_from_db()
    assert report.credited_at is not None
    assert Notification.objects.filter(user=tester, text__startswith="Credited").exists()


def test_a_state_going_back_and_forth_credits_exactly_once(tester, admin_user, rates):
    report = _bug(tester)
    for state in ["confirmed", "triaged", "confirmed", "wont_fix", "confirmed", "fixed", "confirmed", "fixed"]:
        reports.report_transition(report=report, to_state=state, actor=admin_user)
    assert len(_entries(tester)) == 1
    assert report.events.exclude(from_state="").count() == 8


def test_a_bug_closed_without_confirmation_earns_nothing(tester, admin_user, rates):
    for state in ["not_a_bug", "wont_fix"]:
        reports.report_transition(report=_bug(tester), to_state=state, actor=admin_user)
    assert _entries(tester) == []


def test_an_accepted_finding_is_credited_at_the_finding_rate(red_teamer, admin_user, rates, harm, red_clip):
    finding = reports.report_file(
        reporter=red_teamer,
        kind="finding",
        title="Gore from an innocent prompt",
        severity="critical",
        job=red_clip,
        harm_category=harm,
        outcome="graphic",
    )
    reports.report_transition(report=finding, to_state="confirmed", actor=admin_user)
    [entry] = _entries(red_teamer)
    assert (entry.kind, entry.points, entry.amount) == ("finding", 200, Decimal("500.00"))


def test_accepted_feedback_is_credited_once_per_item(tester, admin_user, rates, clip):
    rating = ratings.rating_save(
        job=clip,
        author=tester,
        prompt_adherence=4,
        motion=3,
        visual_quality=2,
        artefacts=5,
        comment="Flicker at the end",
        tags="flicker, colour",
    )
    for accept in [True, False, True, True]:
        ratings.rating_decide(rating=rating, accept=accept, actor=admin_user)
    [entry] = _entries(tester)
    assert (entry.kind, entry.points, entry.amount) == ("feedback", 1, Decimal("2.00"))
    ratings.rating_decide(
        rating=ratings.rating_save(
            job=finished_clip(tester, programme=clip.grant.programme),
            author=tester,
            prompt_adherence=5,
            motion=5,
            visual_quality=5,
            artefacts=5,
        ),
        accept=True,
        actor=admin_user,
    )
    assert len(_entries(tester, "feedback")) == 2


def test_work_keeps_the_rate_it_was_credited_at(tester, admin_user, rates, programme):
    first = _bug(tester, severity="low")
    reports.report_transition(report=first, to_state="confirmed", actor=admin_user)
    rate_publish(programme=programme, kind="bug", points=12, amount="15", currency="USD")
    second = _bug(tester, severity="low", title="Another")
    reports.report_transition(report=second, to_state="confirmed", actor=admin_user)
    assert [entry.amount for entry in _entries(tester)] == [Decimal("10.00"), Decimal("15.00")]


def test_the_database_refuses_a_second_credit_for_the_same_source(tester, admin_user, rates):
    report = _bug(tester)
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    entry = _entries(tester)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(person=tester, programme=entry.programme, kind="bug", source=report, reason="again")
    again, created = ledger_credit(person=tester, programme=entry.programme, kind="bug", source=report, reason="x")
    assert (again, created) == (entry, False)


def test_the_ledger_is_append_only_and_corrections_are_new_entries(tester, admin_user, rates):
    report = _bug(tester)
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    entry = _entries(tester)[0]
    entry.amount = Decimal("1000")
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    with pytest.raises(ValidationError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1000)
    with pytest.raises(ValidationError):
        LedgerEntry.objects.all().delete()

    with pytest.raises(ValidationError, match="Say why"):
        ledger_correct(entry=entry, points=-10, amount="-5", reason=" ", actor=admin_user)
    ledger_correct(entry=entry, points=-10, amount="-5", reason="Severity was medium, not high", actor=admin_user)
    with pytest.raises(ValidationError, match="already been corrected"):
        ledger_correct(entry=entry, points=-10, amount="-5", reason="twice", actor=admin_user)
    statement = statement_for(tester)
    assert (statement.points, statement.due) == (40, {"USD": Decimal("35.00")})
    assert AuditEvent.objects.filter(action="feedback.ledger_corrected", actor=admin_user).count() == 1


def test_a_duplicate_links_the_original_and_the_earliest_reporter_keeps_the_credit(tester, tester2, admin_user, rates):
    original = _bug(tester, title="Grey frames")
    later = _bug(tester2, title="Frames go grey at the end")
    reports.report_transition(report=later, to_state="confirmed", actor=admin_user)  # credited before anyone noticed
    assert len(_entries(tester2)) == 1

    with pytest.raises(ValidationError, match="filed after this one"):
        reports.report_transition(report=original, to_state="duplicate", duplicate_of=later, actor=admin_user)
    reports.report_transition(report=original, to_state="confirmed", actor=admin_user)
    reports.report_transition(report=later, to_state="duplicate", duplicate_of=original, actor=admin_user)

    later.refresh_from_db()
    assert (later.state, later.duplicate_of) == ("duplicate", original)
    assert sum(entry.amount for entry in _entries(tester2)) == 0  # credited, then corrected by a new entry
    assert [entry.kind for entry in _entries(tester2)] == ["bug", "correction"]
    assert [entry.amount for entry in _entries(tester)] == [Decimal("40.00")]
    # Found not to be a duplicate after all and confirmed again: credited again, once (the withdrawal undone).
    reports.report_transition(report=later, to_state="triaged", actor=admin_user)
    reports.report_transition(report=later, to_state="confirmed", actor=admin_user)
    assert [entry.kind for entry in _entries(tester2)] == ["bug", "correction", "correction"]
    assert sum(entry.amount for entry in _entries(tester2)) == Decimal("40.00") and len(_entries(tester)) == 1


def _net(person):
    entries = _entries(person)
    return sum(entry.points for entry in entries), sum((entry.amount for entry in entries), Decimal(0))


def test_a_report_wrongly_marked_duplicate_is_credited_once_whatever_path_brings_it_back(
    tester, tester2, admin_user, rates
):
    original = _bug(tester2, title="Grey frames")
    report = _bug(tester, title="Frames go grey")
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    reports.report_transition(report=report, to_state="duplicate", duplicate_of=original, actor=admin_user)
    assert _net(tester) == (0, Decimal("0.00"))
    paths = [
        ["triaged", "confirmed"],
        ["fixed", "confirmed", "fixed", "confirmed"],  # already credited: nothing more
        ["duplicate", "triaged", "wont_fix", "confirmed"],
        ["duplicate", "triaged", "duplicate", "triaged", "needs_info", "confirmed", "fixed"],
    ]
    for path in paths:
        for state in path:
            reports.report_transition(
                report=report, to_state=state, actor=admin_user, duplicate_of=original if state == "duplicate" else None
            )
        assert _net(tester) == (50, Decimal("40.00")), path
    assert [entry.kind for entry in _entries(tester)] == ["bug", *["correction"] * 6]
    assert Notification.objects.filter(user=tester, text__contains="its credit is restored").count() == 3
    assert _entries(tester2) == []  # the original was never confirmed

    # A credit an admin corrected by hand keeps the correction through a withdrawal and its undoing.
    report.refresh_from_db()
    [entry] = [e for e in _entries(tester) if e.kind == "correction"][-1:]
    ledger_correct(entry=entry, points=-20, amount="-10", reason="Was medium", actor=admin_user)
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    reports.report_transition(report=report, to_state="duplicate", duplicate_of=original, actor=admin_user)
    assert _net(tester) == (0, Decimal("0.00"))
    reports.report_transition(report=report, to_state="triaged", actor=admin_user)
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    assert _net(tester) == (30, Decimal("30.00"))


def test_a_report_marked_duplicate_before_any_credit_is_credited_once_when_confirmed(
    tester, tester2, admin_user, rates
):
    original = _bug(tester2, title="Grey frames")
    report = _bug(tester, title="Frames go grey")
    reports.report_transition(report=report, to_state="duplicate", duplicate_of=original, actor=admin_user)
    reports.report_transition(report=report, to_state="triaged", actor=admin_user)
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    assert [entry.kind for entry in _entries(tester)] == ["bug"] and _net(tester) == (50, Decimal("40.00"))


def test_only_the_programmes_admins_change_a_reports_state(tester, tester2, reviewer, admin_user, rates):
    report = _bug(tester)
    for person in (tester, tester2, reviewer):
        with pytest.raises(PermissionDenied, match="admins"):
            reports.report_transition(report=report, to_state="confirmed", actor=person)
    with pytest.raises(ValidationError, match="can move to"):
        reports.report_transition(report=report, to_state="fixed", actor=admin_user)
    assert Report.objects.get(pk=report.pk).state == "new" and _entries(tester) == []


def test_statement_totals_per_period_and_what_is_due(tester, admin_user, rates):
    for severity in ["high", "critical"]:
        reports.report_transition(report=_bug(tester, severity=severity), to_state="confirmed", actor=admin_user)
    statement = statement_for(tester)
    month = timezone.localtime().strftime("%Y-%m")
    assert [(period.period, period.points, dict(period.amounts)) for period in statement.periods] == [
        (month, 150, {"USD": Decimal("140.00")})
    ]
    assert statement.due == {"USD": Decimal("140.00")} and statement.paid == {}


# --- Concurrency, on PostgreSQL --------------------------------------------------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and concurrent inserts need PostgreSQL"
)


def _race(count, work):
    """Run ``work`` in ``count`` threads released at the same moment; returns what each returned or raised."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = work()
        except Exception as error:  # noqa: BLE001 - every outcome is the result under test
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_confirmations_credit_exactly_once(tester, admin_user, rates):
    report = _bug(tester)
    results = _race(8, lambda: reports.report_transition(report=report, to_state="confirmed", actor=admin_user))
    assert sum(isinstance(result, Report) for result in results) == 1
    assert all(isinstance(result, (Report, ValidationError)) for result in results)
    assert len(_entries(tester)) == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_credits_of_one_source_make_one_entry(tester, admin_user, rates, programme):
    """Even callers that take no lock (as another app's service might) cannot credit twice: the
    database's unique constraint decides."""
    report = _bug(tester)

    def credit():
        with transaction.atomic():
            return ledger_credit(person=tester, programme=programme, kind="bug", source=report, reason="race")

    results = _race(8, credit)
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert len({entry.pk for entry, _ in results}) == 1
    assert len(_entries(tester)) == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_back_and_forth_credits_once(tester, admin_user, rates):
    report = _bug(tester)
    states = ["confirmed", "triaged", "confirmed", "wont_fix", "confirmed", "fixed"] * 2

    def flip(state):
        def work():
            try:
                return reports.report_transition(report=report, to_state=state, actor=admin_user)
            except ValidationError as error:
                return error

        return work

    barrier_results = _race(len(states), lambda: [flip(state)() for state in states])
    assert all(isinstance(result, list) for result in barrier_results)
    assert len(_entries(tester)) == 1


def test_credits_made_in_the_past_use_the_rate_then(tester, programme, rates):
    report = _bug(tester)
    later = timezone.now() + timedelta(days=2)
    rate_publish(
        programme=programme, kind="bug", severity="high", points=99, amount="99", currency="USD", effective_from=later
    )
    entry, _ = ledger_credit(
        person=tester, programme=programme, kind="bug", source=report, severity="high", reason="now"
    )
    assert entry.amount == Decimal("40.00")


def test_a_credit_that_loses_the_race_returns_the_winners_entry(tester, programme, rates, monkeypatch):
    """The check before the insert can be stale (another request inserted since): the constraint decides,
    and the caller's transaction goes on."""
    from feedback import ledger

    report = _bug(tester)
    winner, _ = ledger_credit(person=tester, programme=programme, kind="bug", source=report, reason="first")
    monkeypatch.setattr(ledger, "ledger_entry_for", lambda kind, source: None)
    with transaction.atomic():
        entry, created = ledger_credit(person=tester, programme=programme, kind="bug", source=report, reason="late")
        assert (entry, created) == (winner, False)
        assert LedgerEntry.objects.filter(person=tester).count() == 1  # the transaction is still usable


def test_reports_withdrawn_before_the_upgrade_are_restored_when_confirmed_again(tester, tester2, admin_user, rates):
    from importlib import import_module

    from django.apps import apps

    original = _bug(tester2, title="Grey frames")
    report = _bug(tester, title="Frames go grey")
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    reports.report_transition(report=report, to_state="duplicate", duplicate_of=original, actor=admin_user)
    Report.objects.filter(pk=report.pk).update(credit_withdrawal=None)  # as the old code left it
    import_module("feedback.migrations.0002_report_credit_withdrawal").withdrawals_mark(apps, None)
    report.refresh_from_db()
    assert report.credit_withdrawal == _entries(tester, "correction")[0]
    reports.report_transition(report=report, to_state="triaged", actor=admin_user)
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    assert _net(tester) == (50, Decimal("40.00"))
