import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from access.api_auth import TokenRateThrottle
from access.models import ApiToken, AuditEvent, token_digest
from access.suspensions import suspend
from access.tokens import token_create, token_generate, token_revoke, token_well_formed, tokens_in_text
from generation.models import RenderJob
from tests.factories import RenderJobFactory, job_settings

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"
SMALL = job_settings()


def _bearer(token, **extra):
    client = APIClient(REMOTE_ADDR=extra.get("ip", "127.0.0.1"))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_tokens_have_a_prefix_and_a_checksum():
    token = token_generate()
    assert token.startswith("blt_") and len(token) == 42 and token_well_formed(token)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not token_well_formed(tampered)
    assert tokens_in_text(f"my key is {token}, and {tampered} is not one") == [token]


def test_a_token_is_shown_once_and_stored_as_a_digest(tester_client, tester):
    response = tester_client.post(
        reverse("tokens:list"), {"name": "laptop", "scopes": ["read", "generate"], "days": "30"}
    )
    token = response.context["new_token"]

    assert response.status_code == 201 and token in response.content.decode()
    record = ApiToken.objects.get()
    assert record.digest == token_digest(token) and token not in str(ApiToken.objects.values().get())
    assert token not in tester_client.get(reverse("tokens:list")).content.decode()
    assert AuditEvent.objects.filter(action="access.token_created", subject=tester).exists()


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": "", "scopes": ["read"], "days": "30"}, "name"),
        ({"name": "x", "days": "30"}, "scopes"),
        ({"name": "x", "scopes": ["admin"], "days": "30"}, "scopes"),
        ({"name": "x", "scopes": ["read"], "days": "0"}, "days"),
        ({"name": "x", "scopes": ["read"], "days": "9999"}, "days"),
    ],
)
def test_bad_token_requests_are_refused(tester_client, form, field):
    response = tester_client.post(reverse("tokens:list"), form)
    assert response.status_code == 400 and response.context["form"].errors[field]
    assert not ApiToken.objects.exists()


def test_a_token_works_within_its_scopes(tester):
    _, reader = token_create(user=tester, name="reader", scopes=["read"])
    _, maker = token_create(user=tester, name="maker", scopes=["read", "generate"])

    assert _bearer(reader).get(JOBS).status_code == 200
    refused = _bearer(reader).post(JOBS, SMALL, format="json")
    assert refused.status_code == 403 and "lacks the 'generate' scope" in refused.json()["detail"]
    assert _bearer(maker).post(JOBS, SMALL, format="json").status_code == 201
    assert RenderJob.objects.count() == 1
    record = ApiToken.objects.get(name="maker")
    assert record.last_used_at is not None and record.last_used_ip == "127.0.0.1"


def test_a_method_the_endpoint_lacks_is_not_allowed_rather_than_out_of_scope(tester):
    _, token = token_create(user=tester, name="all", scopes=["read", "generate", "feedback"])
    job = RenderJobFactory(owner=tester, grant=tester.grants.get())

    for method, path in [("put", f"{JOBS}{job.pk}/"), ("patch", f"{JOBS}{job.pk}/"), ("delete", "/api/v1/quota/")]:
        response = getattr(_bearer(token), method)(path, SMALL, format="json")
        assert response.status_code == 405, (method, path, response.json())
    job.refresh_from_db()
    assert (job.prompt, job.width, job.state) == ("a slow pan over a neon city at night", 128, "queued")


@pytest.mark.parametrize("header", ["Bearer blt_nottherightshape", "Bearer", "Bearer a b"])
def test_malformed_or_unknown_tokens_are_refused(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(JOBS).status_code == 401


def test_an_unknown_well_formed_token_is_refused():
    assert _bearer(token_generate()).get(JOBS).status_code == 401


def test_expired_revoked_and_suspended_people_s_tokens_stop(tester, tester2, admin_user):
    _, expired = token_create(user=tester, name="old", scopes=["read"])
    ApiToken.objects.filter(name="old").update(expires_at="2000-01-01T00:00:00Z")
    record, revoked = token_create(user=tester, name="gone", scopes=["read"])
    token_revoke(record=record, actor=admin_user, reason="Found on a forum")
    _, working = token_create(user=tester, name="ok", scopes=["read"])
    _, others = token_create(user=tester2, name="other", scopes=["read"])

    assert "expired" in _bearer(expired).get(JOBS).json()["detail"]
    assert "revoked" in _bearer(revoked).get(JOBS).json()["detail"]
    assert _bearer(working).get(JOBS).status_code == 200

    suspend(programme=tester.grants.get().programme, user=tester, reason="Leak", actor=admin_user)

    response = _bearer(working).get(JOBS)
    assert response.status_code == 403 and "Leak" in response.json()["detail"]
    assert _bearer(others).get(JOBS).status_code == 200


def test_rotating_replaces_the_token(tester_client, tester):
    record, old = token_create(user=tester, name="ci", scopes=["read"], days=30)

    response = tester_client.post(reverse("tokens:rotate", args=[record.pk]))
    new = response.context["new_token"]

    assert response.status_code == 201 and new != old
    assert _bearer(old).get(JOBS).status_code == 401
    assert _bearer(new).get(JOBS).status_code == 200
    assert ApiToken.objects.get(digest=token_digest(new)).name == "ci"


def test_deleting_stops_the_token(tester_client, tester):
    record, token = token_create(user=tester, name="ci", scopes=["read"])
    tester_client.post(reverse("tokens:delete", args=[record.pk]))
    assert _bearer(token).get(JOBS).status_code == 401


def test_nobody_else_can_rotate_or_delete_my_token(client, tester, tester2):
    record, token = token_create(user=tester, name="ci", scopes=["read"])
    client.force_login(tester2)
    assert client.post(reverse("tokens:rotate", args=[record.pk])).status_code == 404
    assert client.post(reverse("tokens:delete", args=[record.pk])).status_code == 404
    assert _bearer(token).get(JOBS).status_code == 200


def test_tokens_never_work_for_staff_endpoints(admin_user, client):
    _, token = token_create(user=admin_user, name="all", scopes=["read", "generate", "feedback"])

    refused = _bearer(token).get("/api/v1/audit/")

    assert refused.status_code == 403 and "staff endpoints" in refused.json()["detail"]
    client.force_login(admin_user)
    assert client.get("/api/v1/audit/").status_code == 200


def test_the_audit_api_is_for_programme_admins_only(tester_client):
    assert tester_client.get("/api/v1/audit/").status_code == 403


def test_each_token_is_throttled(tester, monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    _, token = token_create(user=tester, name="busy", scopes=["read"])
    statuses = [_bearer(token).get(JOBS).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_the_api_docs_are_for_signed_in_people(tester_client):
    from django.test import Client

    assert Client().get("/api/docs/").status_code == 401
    assert tester_client.get("/api/docs/").status_code == 200
    schema = tester_client.get("/api/schema/", {"format": "json"}).json()
    assert schema["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
