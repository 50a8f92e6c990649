"""The feedback API, with personal tokens of scope `feedback`: your ratings, reports and ledger only."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from access.tokens import token_create
from feedback import ratings, reports
from feedback.models import ClipRating, Report

pytestmark = pytest.mark.django_db


def _client(user, scopes=("feedback",)):
    _, token = token_create(user=user, name="cli", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


SCORES = {"prompt_adherence": 4, "motion": 3, "visual_quality": 5, "artefacts": 2}


def test_a_tester_rates_reports_comments_and_reads_their_ledger_through_the_api(tester, admin_user, clip, rates):
    api = _client(tester)
    response = api.post(
        "/api/v1/feedback/ratings/", {"job": str(clip.pk), **SCORES, "tags": ["flicker"]}, format="json"
    )
    assert response.status_code == 201 and response.json()["motion"] == 3
    response = api.post(
        "/api/v1/feedback/reports/",
        {"kind": "bug", "job": str(clip.pk), "title": "Grey frames", "steps": "render", "severity": "high"},
        format="json",
    )
    assert response.status_code == 201, response.content
    report = response.json()
    assert report["reproduction"]["seed"] == clip.seed and report["reproduction"]["worker"] == "gpu0@render-1"
    assert report["state"] == "new" and report["model_key"] == "ltx-video"

    response = api.post(
        f"/api/v1/feedback/reports/{report['id']}/comments/", {"body": "Also at 121 frames"}, format="json"
    )
    assert response.status_code == 201 and response.json()["events"][-1]["comment"] == "Also at 121 frames"
    reports.report_transition(report=Report.objects.get(pk=report["id"]), to_state="confirmed", actor=admin_user)
    assert api.get(f"/api/v1/feedback/reports/{report['id']}/").json()["state_label"] == "Confirmed"
    ledger = api.get("/api/v1/feedback/ledger/").json()["results"]
    assert [(row["kind"], row["amount"], row["currency"]) for row in ledger] == [("bug", "40.00", "USD")]
    assert api.get("/api/v1/feedback/ledger/statement/").json()["due"] == {"USD": "40.00"}


def test_attachments_through_the_api_are_checked(tester):
    api = _client(tester)
    ok = SimpleUploadedFile("log.txt", b"trace\n", content_type="text/plain")
    response = api.post(
        "/api/v1/feedback/reports/",
        {"kind": "bug", "title": "Crash", "steps": "s", "attachments": [ok]},
        format="multipart",
    )
    assert response.status_code == 201 and response.json()["attachments"][0]["content_type"] == "text/plain"
    bad = SimpleUploadedFile("x.png", b"\x7fELF" + bytes(range(200)), content_type="image/png")
    response = api.post(
        "/api/v1/feedback/reports/",
        {"kind": "bug", "title": "Crash", "steps": "s", "attachments": [bad]},
        format="multipart",
    )
    assert response.status_code == 400 and "not a file type" in response.json()["attachments"][0]
    assert Report.objects.count() == 1


def test_tokens_need_the_feedback_scope(tester, clip):
    api = _client(tester, scopes=("read", "generate"))
    for path in ("ratings/", "reports/", "ledger/", "ledger/statement/"):
        response = api.get(f"/api/v1/feedback/{path}")
        assert response.status_code == 403 and "feedback" in response.json()["detail"]
    assert api.post("/api/v1/feedback/ratings/", {"job": str(clip.pk), **SCORES}, format="json").status_code == 403
    assert not ClipRating.objects.exists()


def test_nobody_reaches_another_persons_ratings_reports_or_ledger(tester, tester2, admin_user, clip, rates):
    report = reports.report_file(reporter=tester, kind="bug", title="Mine", steps="s", job=clip)
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    ratings.rating_save(job=clip, author=tester, **SCORES)
    api = _client(tester2)
    assert api.get("/api/v1/feedback/reports/").json()["results"] == []
    assert api.get(f"/api/v1/feedback/reports/{report.pk}/").status_code == 404
    assert api.post(f"/api/v1/feedback/reports/{report.pk}/comments/", {"body": "x"}, format="json").status_code == 404
    assert api.get("/api/v1/feedback/ratings/").json()["results"] == []
    assert api.get("/api/v1/feedback/ledger/").json()["results"] == []
    assert api.get("/api/v1/feedback/ledger/statement/").json()["due"] == {}
    response = api.post("/api/v1/feedback/ratings/", {"job": str(clip.pk), **SCORES}, format="json")
    assert response.status_code == 400 and response.json() == {"job": ["No such clip of yours."]}
    assert ClipRating.objects.count() == 1
    assert APIClient().get("/api/v1/feedback/reports/").status_code in (401, 403)


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "rumour", "title": "x"},
        {"kind": "bug", "title": ""},
        {"kind": "bug", "title": "x", "severity": "meh"},
        {"kind": "finding", "title": "x", "outcome": "y"},
        {"kind": "bug", "title": "x", "job": "not-a-uuid"},
    ],
)
def test_bad_reports_through_the_api_are_refused(tester, data):
    response = _client(tester).post("/api/v1/feedback/reports/", data, format="json")
    assert response.status_code in (400, 403)
    assert not Report.objects.exists()


def test_bad_ratings_through_the_api_are_refused(tester, clip):
    api = _client(tester)
    for change in ({"motion": 9}, {"motion": None}, {"tags": ["x"] * 11}):
        assert (
            api.post("/api/v1/feedback/ratings/", {"job": str(clip.pk), **SCORES, **change}, format="json").status_code
            == 400
        )
    assert not ClipRating.objects.exists()


def test_the_schema_describes_the_feedback_api(tester_client):
    schema = tester_client.get("/api/schema/").content.decode()
    assert "/api/v1/feedback/reports/" in schema and "/api/v1/feedback/ledger/statement/" in schema


def test_huge_page_numbers_give_a_bounded_page_not_a_server_error(db, tester):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(tester)
    for query in ("limit=5648259864329561571328", "offset=99999999999999999999999", "limit=0&offset=-4"):
        response = client.get(f"/api/v1/feedback/ratings/?{query}")
        assert response.status_code == 200, query
        assert response.json()["results"] == []
