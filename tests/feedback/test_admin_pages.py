"""Admin pages: the triage queue and workflow, rating aggregates and their export, model versions and
release notes, targets and categories; only the programme's admins reach them."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from access.models import AuditEvent, Role
from access.programmes import programme_create
from feedback import health, model_versions, ratings, reports
from feedback.models import ClipRating, LedgerEntry, Report, ResponseTargets
from tests.conftest import member, with_totp
from tests.feedback.conftest import finished_clip

pytestmark = pytest.mark.django_db


def _bug(reporter, title="Grey frames", **fields):
    return reports.report_file(reporter=reporter, kind="bug", title=title, steps="s", **fields)


ADMIN_PAGES = ["", "ratings/", "ratings/export.csv", "payouts/", "showcase/", "versions/", "settings/"]


def test_only_the_programmes_admins_reach_its_feedback_pages(client, tester, tester2, reviewer, outsider, admin_user):
    other = programme_create(name="Beta")
    other_admin = with_totp(member("beta-admin@example.org", programme=other, role=Role.ADMIN))
    for person in (tester, tester2, reviewer, outsider, other_admin):
        client.force_login(with_totp(person) if person is reviewer else person)
        for page in ADMIN_PAGES:
            assert client.get(f"/manage/alpha/feedback/{page}").status_code == 404, (person, page)
    client.force_login(admin_user)
    for page in ADMIN_PAGES:
        assert client.get(f"/manage/alpha/feedback/{page}").status_code == 200, page


def test_the_triage_queue_filters_and_shows_each_reports_clocks(admin_client, tester, tester2, admin_user):
    old = _bug(tester, title="Old and waiting", severity="high")
    Report.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    _bug(tester2, title="Fresh one", severity="low")
    closed = _bug(tester2, title="Closed one")
    reports.report_transition(report=closed, to_state="not_a_bug", actor=admin_user)

    page = admin_client.get("/manage/alpha/feedback/").content.decode()
    assert "Old and waiting" in page and "Fresh one" in page and "Closed one" not in page
    assert page.index("Old and waiting") < page.index("Fresh one")  # oldest first
    assert 'data-state="overdue"' in page and "overdue: 72 h against a target of 48 h" in page
    page = admin_client.get("/manage/alpha/feedback/?severity=low").content.decode()
    assert "Fresh one" in page and "Old and waiting" not in page
    page = admin_client.get("/manage/alpha/feedback/?state=all&q=closed").content.decode()
    assert "Closed one" in page and "Fresh one" not in page
    assert admin_client.get("/manage/alpha/feedback/?state=bogus").status_code == 400


def test_an_admin_triages_a_report_from_its_page(admin_client, admin_user, tester, rates):
    report = _bug(tester, severity="high")
    page = admin_client.get(report.get_absolute_url()).content.decode()
    assert "Change state" in page and tester.email in page
    response = admin_client.post(
        f"/manage/alpha/feedback/reports/{report.pk}/state/",
        {"to_state": "confirmed", "comment": "Reproduced on seed 42"},
    )
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.state == "confirmed" and report.first_response_at and report.triaged_at and report.credited_at
    assert LedgerEntry.objects.get(person=tester).amount == 40
    assert AuditEvent.objects.filter(action="feedback.report_state_changed", actor=admin_user).exists()
    response = admin_client.post(f"/manage/alpha/feedback/reports/{report.pk}/assign/", {"assignee": admin_user.pk})
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.assignee == admin_user


@pytest.mark.parametrize(
    "data", [{"to_state": "banana"}, {"to_state": "duplicate"}, {"to_state": "duplicate", "duplicate_of": 999999}]
)
def test_bad_triage_input_is_refused_and_changes_nothing(admin_client, tester, data):
    report = _bug(tester)
    response = admin_client.post(f"/manage/alpha/feedback/reports/{report.pk}/state/", data)
    assert response.status_code == 400 and "errorlist" in response.content.decode()
    report.refresh_from_db()
    assert report.state == "new" and report.events.count() == 1


def test_a_tester_cannot_triage_even_their_own_report(tester_client, tester):
    report = _bug(tester)
    assert (
        tester_client.post(f"/manage/alpha/feedback/reports/{report.pk}/state/", {"to_state": "confirmed"}).status_code
        == 404
    )
    assert (
        tester_client.post(f"/manage/alpha/feedback/reports/{report.pk}/assign/", {"assignee": ""}).status_code == 404
    )
    assert "Change state" not in tester_client.get(report.get_absolute_url()).content.decode()
    report.refresh_from_db()
    assert report.state == "new"


def test_a_reporter_sees_the_clock_against_the_published_targets(tester_client, tester, admin_user, programme):
    health.targets_publish(
        programme=programme, actor=admin_user, first_response_hours=4, triage_hours=24, credit_hours=72, payout_days=7
    )
    report = _bug(tester)
    page = tester_client.get(report.get_absolute_url()).content.decode()
    assert "of 4 h" in page and "of 24 h" in page and "of 72 h" in page
    reports.report_comment(report=report, author=admin_user, body="Looking")
    page = tester_client.get(report.get_absolute_url()).content.decode()
    assert "First response</strong>: met in" in page


def test_bad_targets_are_refused(admin_client, programme):
    response = admin_client.post(
        "/manage/alpha/feedback/settings/",
        {"targets": "1", "first_response_hours": 0, "triage_hours": 5, "credit_hours": 5, "payout_days": 5},
    )
    assert response.status_code == 400
    assert not ResponseTargets.objects.exists()


def test_rating_aggregates_per_model_and_version_with_charts_and_csv(admin_client, admin_user, tester, programme):
    first = finished_clip(tester, programme=programme)
    ratings.rating_save(job=first, author=tester, prompt_adherence=2, motion=2, visual_quality=2, artefacts=2)
    version = model_versions.model_version_create(
        programme=programme, model_key="ltx-video", version="0.9.5", actor=admin_user
    )
    model_versions.model_version_ship(model_version=version, actor=admin_user)
    second = finished_clip(tester, programme=programme, seed=8)
    ratings.rating_save(job=second, author=tester, prompt_adherence=4, motion=5, visual_quality=4, artefacts=3)
    assert ClipRating.objects.get(job=second).model_version == version

    page = admin_client.get("/manage/alpha/feedback/ratings/").content.decode()
    assert page.count("<svg") == 4 and "<polyline" in page and "ltx-video 0.9.5" in page
    rows = list(
        csv.DictReader(io.StringIO(admin_client.get("/manage/alpha/feedback/ratings/export.csv").content.decode()))
    )
    assert {(row["model_version"], row["avg_motion"]) for row in rows} == {("", "2.00"), ("0.9.5", "5.00")}
    assert AuditEvent.objects.filter(action="feedback.ratings_exported").exists()

    rating = ClipRating.objects.get(job=second)
    admin_client.post(f"/manage/alpha/feedback/ratings/{rating.pk}/decide/", {"decision": "accept"})
    assert LedgerEntry.objects.filter(person=tester, kind="feedback").count() == 1


def test_release_notes_credit_the_reporters_of_the_bugs_a_version_fixed(
    client, admin_user, tester, tester2, red_teamer, harm, programme
):
    version = model_versions.model_version_create(
        programme=programme, model_key="ltx-video", version="1.0", actor=admin_user
    )
    fixed = _bug(tester, title="Grey last frames", credit_name="Tess T.")
    anonymous = _bug(tester2, title="Seed ignored", credit_name="")
    finding = reports.report_file(
        reporter=red_teamer, kind="finding", title="Secret harm", harm_category=harm, outcome="bad"
    )
    for report in (fixed, anonymous, finding):
        reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
        reports.report_transition(report=report, to_state="fixed", fixed_in=version, actor=admin_user)
    client.force_login(tester2)
    assert client.get(version.get_absolute_url()).status_code == 404  # not shipped yet
    model_versions.model_version_ship(model_version=version, actor=admin_user)
    page = client.get(version.get_absolute_url()).content.decode()
    assert "Grey last frames — reported by <strong>Tess T.</strong>" in page
    assert "Seed ignored — reported by <strong>an anonymous tester</strong>" in page
    assert "Secret harm" not in page and "1 confidential red-team finding" in page


def test_triage_needs_the_admins_second_factor(client, tester, programme):
    """Triage actions live under /manage/, so staff without an authenticator are sent to set one up."""
    no_totp = member("new-admin@example.org", programme=programme, role=Role.ADMIN)
    report = _bug(tester)
    client.force_login(no_totp)
    response = client.post(f"/manage/alpha/feedback/reports/{report.pk}/state/", {"to_state": "confirmed"})
    assert response.status_code == 302 and "/2fa/" in response.url
    report.refresh_from_db()
    assert report.state == "new"


def test_an_admin_corrects_a_ledger_entry_with_a_new_entry(admin_client, admin_user, tester, tester2, rates):
    report = _bug(tester, severity="high")
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    entry = LedgerEntry.objects.get(person=tester)
    url = f"/manage/alpha/feedback/people/{tester.pk}/ledger/"
    assert f"Bug report #{report.pk} confirmed" in admin_client.get(url).content.decode()

    for bad in (
        {"entry": entry.pk, "points": -10, "amount": "-5", "reason": ""},
        {"entry": 999999, "points": -10, "amount": "-5", "reason": "x"},
        {"entry": entry.pk, "points": -10, "amount": "lots", "reason": "x"},
    ):
        assert admin_client.post(url, bad).status_code == 400
    other = f"/manage/alpha/feedback/people/{tester2.pk}/ledger/"
    assert admin_client.post(other, {"entry": entry.pk, "points": 0, "amount": "1", "reason": "x"}).status_code == 400
    assert LedgerEntry.objects.count() == 1

    response = admin_client.post(url, {"entry": entry.pk, "points": -10, "amount": "-8.00", "reason": "Medium"})
    assert response.status_code == 302
    correction = LedgerEntry.objects.get(kind="correction")
    assert (correction.person, correction.amount, correction.source) == (tester, -8, entry)
    entry.refresh_from_db()
    assert entry.amount == 40  # the original is never edited
