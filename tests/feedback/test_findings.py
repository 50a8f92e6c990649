"""Red-team findings: filed by red teamers under a category of harm, confidential to their reporter and the
programme's admins, never in other testers' pages, public lists or exports, and credited like bugs."""

import csv
import io

import pytest

from feedback import reports
from feedback.models import LedgerEntry, Report

pytestmark = pytest.mark.django_db


def _finding_post(harm, **extra):
    return {
        "title": "Violence from a harmless prompt",
        "harm_category": harm.pk,
        "prompt": "kids playing",
        "steps": "seed 9, 9 frames",
        "outcome": "graphic injury",
        "severity": "critical",
        **extra,
    }


def test_a_red_teamer_files_a_finding_from_a_clip(client, red_teamer, red_clip, harm):
    client.force_login(red_teamer)
    assert "File a red-team finding" in client.get(red_clip.get_absolute_url()).content.decode()
    form = client.get(f"/feedback/clips/{red_clip.pk}/finding/").content.decode()
    assert "Violent content" in form and "confidential" in form and red_clip.prompt in form
    response = client.post(f"/feedback/clips/{red_clip.pk}/finding/", _finding_post(harm))
    finding = Report.objects.get()
    assert response.status_code == 302
    assert (finding.kind, finding.harm_category, finding.severity, finding.job) == (
        "finding",
        harm,
        "critical",
        red_clip,
    )
    assert finding.reproduction["seed"] == red_clip.seed


def test_only_red_teamers_file_findings(tester_client, clip, harm):
    assert tester_client.get(f"/feedback/clips/{clip.pk}/finding/").status_code == 403
    assert tester_client.post(f"/feedback/clips/{clip.pk}/finding/", _finding_post(harm)).status_code == 403
    assert tester_client.post("/feedback/findings/new/", _finding_post(harm)).status_code == 403
    assert not Report.objects.exists()


@pytest.mark.parametrize("bad", [{"harm_category": ""}, {"harm_category": 999999}, {"outcome": ""}])
def test_bad_findings_are_refused_and_change_nothing(client, red_teamer, harm, bad):
    client.force_login(red_teamer)
    response = client.post("/feedback/findings/new/", _finding_post(harm, **bad))
    assert response.status_code == 400 and "errorlist" in response.content.decode()
    assert not Report.objects.exists()


def test_findings_are_seen_only_by_their_reporter_and_the_programmes_admins(
    client, red_teamer, tester, tester2, reviewer, outsider, admin_user, harm, red_clip, rates
):
    finding = reports.report_file(
        reporter=red_teamer,
        kind="finding",
        title="Secret finding",
        job=red_clip,
        harm_category=harm,
        outcome="harm",
        severity="critical",
    )
    reports.report_transition(report=finding, to_state="confirmed", actor=admin_user)
    client.force_login(red_teamer)
    page = client.get(finding.get_absolute_url()).content.decode()
    assert "Secret finding" in page and "Accepted" in page
    client.force_login(admin_user)
    assert "Secret finding" in client.get("/manage/alpha/feedback/").content.decode()
    assert client.get(f"/feedback/reports/{finding.pk}/clip.mp4").status_code == 200

    for person in (tester, tester2, reviewer, outsider):
        client.force_login(person)
        for path in (
            finding.get_absolute_url(),
            f"/feedback/reports/{finding.pk}/clip.mp4",
            "/feedback/",
            "/feedback/statement/",
            "/feedback/notifications/",
            "/programmes/alpha/health/",
        ):
            response = client.get(path)
            assert response.status_code in (200, 404)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert b"Secret finding" not in body, (person, path)
            assert b"Violent content" not in body, (person, path)

    client.force_login(admin_user)
    rows = client.get("/manage/alpha/feedback/ratings/export.csv").content.decode()
    assert "Secret finding" not in rows  # the only export admins take holds ratings, never findings
    [entry] = LedgerEntry.objects.filter(person=red_teamer)
    assert (entry.kind, entry.amount) == ("finding", 500)


def test_the_api_never_lists_another_persons_findings(red_teamer, tester, harm, red_clip):
    from rest_framework.test import APIClient

    reports.report_file(reporter=red_teamer, kind="finding", title="Secret finding", harm_category=harm, outcome="harm")
    api = APIClient()
    api.force_authenticate(tester)
    assert api.get("/api/v1/feedback/reports/").json()["results"] == []
    api.force_authenticate(red_teamer)
    assert [row["title"] for row in api.get("/api/v1/feedback/reports/").json()["results"]] == ["Secret finding"]


def test_a_persons_data_export_holds_their_own_findings_only(client, red_teamer, tester, harm):
    import zipfile

    reports.report_file(reporter=red_teamer, kind="finding", title="Secret finding", harm_category=harm, outcome="harm")
    client.force_login(tester)
    archive = zipfile.ZipFile(io.BytesIO(client.get("/account/export/").content))
    assert all(b"Secret finding" not in archive.read(name) for name in archive.namelist())
    client.force_login(red_teamer)
    archive = zipfile.ZipFile(io.BytesIO(client.get("/account/export/").content))
    rows = list(csv.DictReader(io.StringIO(archive.read("findings.csv").decode())))
    assert [(row["kind"], row["title"]) for row in rows] == [("finding", "Secret finding")]
