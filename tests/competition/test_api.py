"""The competition API: read-only, token scope `read`; your calls, your entries, your assigned reviews."""

import pytest
from rest_framework.test import APIClient

from access.tokens import token_create
from tests.competition.conftest import enter

pytestmark = pytest.mark.django_db


def bearer(user, scopes):
    _, token = token_create(user=user, name="t", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_read_token_lists_calls_and_own_entries_only(call, tester, tester2):
    mine = enter(call, tester)
    enter(call, tester2, title="Theirs")
    api = bearer(tester, ["read"])
    calls = api.get("/api/v1/competition/calls/").json()["results"]
    assert [c["id"] for c in calls] == [call.pk] and [c["name"] for c in calls[0]["criteria"]] == ["Story", "Craft"]
    entries = api.get("/api/v1/competition/submissions/").json()["results"]
    assert [e["id"] for e in entries] == [mine.pk] and entries[0]["rank"] is None
    assert entries[0]["jobs"] == [{"job_code": mine.jobs.get().job_code, "mark_found": False}]
    assert (entries[0]["processing"], entries[0]["processing_percent"], entries[0]["processing_problem"]) == (
        "ready",
        100,
        "",
    )
    assert api.get(entries[0]["film_url"]).status_code == 200
    other = call.submissions.exclude(pk=mine.pk).get()
    assert api.get(f"/api/v1/competition/submissions/{other.pk}/").status_code == 404
    assert api.get("/api/v1/competition/reviews/").json()["results"] == []


def test_writes_and_tokens_without_read_are_refused(call, tester, outsider):
    assert bearer(tester, ["feedback"]).get("/api/v1/competition/calls/").status_code == 403
    assert bearer(tester, ["read"]).post("/api/v1/competition/submissions/", {}).status_code in (403, 405)
    assert APIClient().get("/api/v1/competition/calls/").status_code in (401, 403)
    api = APIClient()
    api.force_authenticate(outsider)
    assert api.get("/api/v1/competition/calls/").json()["results"] == []
    assert api.get(f"/api/v1/competition/calls/{call.pk}/").status_code == 404
