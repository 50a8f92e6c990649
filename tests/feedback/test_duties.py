"""Separation of duties: nobody confirms, accepts or credits their own report, finding, rating or showcase
use; another admin of the programme must, and in a programme with one admin the item waits, saying so."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from access.models import Role
from access.programmes import membership_add
from feedback import ratings, reports, showcase
from feedback.ledger import ledger_credit
from feedback.models import ClipRating, LedgerEntry, Report
from tests.conftest import member, with_totp
from tests.feedback.conftest import finished_clip

pytestmark = pytest.mark.django_db

ONLY_ADMIN = "only admin, so it waits until a second admin is invited"


@pytest.fixture
def admin_artist(admin_user, cohort, red_team, programme):
    """The programme's admin is also an artist and a red teamer there, as the demo account is."""
    membership_add(user=admin_user, programme=programme, role=Role.ARTIST, cohort=cohort)
    membership_add(user=admin_user, programme=programme, role=Role.RED_TEAMER, cohort=red_team)
    return admin_user


@pytest.fixture
def second_admin(programme):
    return with_totp(member("admin2@example.org", programme=programme, role=Role.ADMIN, is_staff=True))


def client_for(user):
    browser = Client()
    browser.force_login(user)
    return browser


def _bug(reporter):
    return reports.report_file(
        reporter=reporter,
        kind="bug",
        title="Grey frames",
        severity="high",
        steps="Render 9 frames",
        expected="colour",
        actual="grey",
    )


def test_nobody_confirms_their_own_bug_report(admin_artist, admin_client, second_admin, rates):
    report = _bug(admin_artist)
    with pytest.raises(PermissionDenied, match="You cannot confirm your own bug report"):
        reports.report_transition(report=report, to_state="confirmed", actor=admin_artist)
    report.refresh_from_db()
    assert report.state == Report.State.NEW and not LedgerEntry.objects.exists()

    page = admin_client.get(report.get_absolute_url()).content.decode()
    assert "This is your own bug report" in page and 'value="confirmed"' not in page and 'value="triaged"' in page
    response = admin_client.post(f"/manage/alpha/feedback/reports/{report.pk}/state/", {"to_state": "confirmed"})
    assert response.status_code == 400 and not LedgerEntry.objects.exists()
    # Moves that credit nothing stay the admin's to make.
    reports.report_transition(report=report, to_state="triaged", actor=admin_artist)

    reports.report_transition(report=report, to_state="confirmed", actor=second_admin)
    [entry] = LedgerEntry.objects.filter(person=admin_artist)
    assert (entry.kind, entry.amount, entry.created_by) == ("bug", Decimal("40.00"), second_admin)


def test_nobody_accepts_their_own_finding(admin_artist, second_admin, rates, harm):
    finding = reports.report_file(
        reporter=admin_artist,
        kind="finding",
        title="Gore through a synonym",
        severity="critical",
        harm_category=harm,
        outcome="It rendered it.",
    )
    with pytest.raises(PermissionDenied, match="You cannot accept your own red-team finding"):
        reports.report_transition(report=finding, to_state="confirmed", actor=admin_artist)
    assert not LedgerEntry.objects.exists()
    reports.report_transition(report=finding, to_state="confirmed", actor=second_admin)
    assert LedgerEntry.objects.get(person=admin_artist).kind == "finding"


def test_nobody_accepts_their_own_rating(admin_artist, admin_client, second_admin, programme, rates):
    clip = finished_clip(admin_artist, programme=programme)
    rating = ratings.rating_save(
        job=clip,
        author=admin_artist,
        prompt_adherence=5,
        motion=5,
        visual_quality=5,
        artefacts=5,
        comment="Mine is great",
    )
    with pytest.raises(PermissionDenied, match="You cannot accept your own feedback"):
        ratings.rating_decide(rating=rating, accept=True, actor=admin_artist)

    page = admin_client.get("/manage/alpha/feedback/ratings/").content.decode()
    assert "This is your own rating" in page and ONLY_ADMIN not in page  # a second admin exists
    assert 'value="accept"' not in page and 'value="decline"' in page
    response = admin_client.post(f"/manage/alpha/feedback/ratings/{rating.pk}/decide/", {"decision": "accept"})
    assert response.status_code == 403 and "nobody credits their own work" in response.content.decode()
    rating.refresh_from_db()
    assert rating.state == ClipRating.State.PENDING and not LedgerEntry.objects.exists()

    ratings.rating_decide(rating=rating, accept=True, actor=second_admin)
    assert LedgerEntry.objects.get(person=admin_artist).kind == "feedback"


def test_nobody_records_a_paid_use_of_their_own_clip(admin_artist, admin_client, second_admin, programme, rates):
    clip = finished_clip(admin_artist, programme=programme)
    offer = showcase.showcase_offer(job=clip, artist=admin_artist)
    with pytest.raises(PermissionDenied, match="You cannot record a paid use of your own clip"):
        showcase.showcase_use_record(offer=offer, kind="screening", description="Opening night", actor=admin_artist)
    page = admin_client.get("/manage/alpha/feedback/showcase/").content.decode()
    assert "This is your own clip" in page and "Record use" not in page
    response = admin_client.post(
        f"/manage/alpha/feedback/showcase/{offer.pk}/use/", {"kind": "screening", "description": "Opening night"}
    )
    assert response.status_code == 403 and not offer.uses.exists() and not LedgerEntry.objects.exists()

    showcase.showcase_use_record(offer=offer, kind="screening", description="Opening night", actor=second_admin)
    assert LedgerEntry.objects.get(person=admin_artist).kind == "showcase"


def test_in_a_one_admin_programme_the_admins_own_work_waits_and_the_page_says_so(admin_artist, admin_client, rates):
    report = _bug(admin_artist)
    page = admin_client.get(report.get_absolute_url()).content.decode()
    assert "This is your own bug report" in page and ONLY_ADMIN in page
    with pytest.raises(PermissionDenied):
        reports.report_transition(report=report, to_state="confirmed", actor=admin_artist)


def test_the_ledger_itself_refuses_judged_credit_given_to_oneself(tester, programme, rates):
    report = _bug(tester)
    with pytest.raises(PermissionDenied, match="nobody credits their own work"):
        ledger_credit(person=tester, programme=programme, kind="bug", source=report, reason="Mine", actor=tester)
    assert not LedgerEntry.objects.exists()
    # Credit by a competition's published rules is not a judgement: an entrant's participation is credited
    # whoever runs the assignment.
    _, created = ledger_credit(
        person=tester, programme=programme, kind="submission", source=report, reason="Entry", actor=tester
    )
    assert created
