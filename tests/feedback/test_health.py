"""The programme health page: medians to first response, triage and credit, reports acted on and payouts
on time, computed from the records, with charts; every member may read it, nobody else."""

from datetime import timedelta

import pytest
from django.utils import timezone

from feedback import reports
from feedback.health import programme_health
from feedback.models import Payout, Report

pytestmark = pytest.mark.django_db


def _report_at(reporter, *, hours_ago, responded=None, triaged=None, credited=None):
    report = reports.report_file(reporter=reporter, kind="bug", title=f"{hours_ago}h", steps="s")
    created = timezone.now() - timedelta(hours=hours_ago)
    after = {
        name: created + timedelta(hours=value) if value is not None else None
        for name, value in (("first_response_at", responded), ("triaged_at", triaged), ("credited_at", credited))
    }
    Report.objects.filter(pk=report.pk).update(created_at=created, **after)


def test_health_is_computed_from_the_records(client, tester, tester2, reviewer, programme, admin_user):
    _report_at(tester, hours_ago=200, responded=2, triaged=10, credited=50)
    _report_at(tester, hours_ago=150, responded=4, triaged=30)
    _report_at(tester2, hours_ago=100, responded=12, triaged=20, credited=70)
    _report_at(tester2, hours_ago=5)
    end = timezone.localdate() - timedelta(days=40)
    on_time = Payout.objects.create(
        programme=programme,
        currency="USD",
        period_start=end - timedelta(days=30),
        period_end=end,
        created_by=admin_user,
    )
    Payout.objects.filter(pk=on_time.pk).update(created_at=timezone.now() - timedelta(days=35))
    Payout.objects.create(
        programme=programme,
        currency="EUR",
        period_start=end - timedelta(days=30),
        period_end=end,
        created_by=admin_user,
    )  # paid today: 40 days after the period, late

    health = programme_health(programme)
    assert health["medians"] == {"first_response": 4.0, "triage": 20.0, "credit": 60.0}
    assert (health["acted_on"], health["reports"], health["acted_share"]) == (3, 4, 75)
    assert (health["payouts_on_time"], health["payouts"], health["payouts_share"]) == (1, 2, 50)

    for person in (tester, reviewer, admin_user):
        client.force_login(person)
        page = client.get("/programmes/alpha/health/").content.decode()
        assert "4.0 h" in page and "20.0 h" in page and "60.0 h" in page and "75%" in page and "50%" in page
        assert page.count("<svg") == 2 and "<polyline" in page


def test_health_is_for_members_only(client, outsider):
    assert client.get("/programmes/alpha/health/").status_code == 302
    client.force_login(outsider)
    assert client.get("/programmes/alpha/health/").status_code == 404
    assert client.get("/programmes/nowhere/health/").status_code == 404


def test_an_empty_programme_has_a_health_page_with_no_data(client, tester):
    client.force_login(tester)
    page = client.get("/programmes/alpha/health/").content.decode()
    assert "No data yet" in page and "48 h" in page
