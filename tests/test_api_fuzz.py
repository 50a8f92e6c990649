"""Schemathesis fuzzes every operation of the API, in process against the WSGI app, from the schema that
/api/schema/ serves: no answer may be a server error, and every answer (status, content type, body,
documented headers) must be one the schema documents. The run is repeatable (a fixed seed, derandomised
Hypothesis, no example database) and bounded (a few examples per operation).

Requests carry a token with every scope, for a tester with a roomy grant who already has a finished clip,
a waiting job, a preset, a rating, a report and a ledger entry, so that reads and deletes by id also find
real objects. The staff-only endpoints refuse tokens; they are fuzzed again with an admin's session."""

import json
import os
import zlib

import pytest
import schemathesis
import werkzeug
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from access.api_auth import TokenRateThrottle
from access.models import AuditEvent, Grant, Suspension
from access.rates import rate_publish
from access.suspensions import suspend
from access.tokens import token_create, token_revoke
from feedback import ratings, reports
from feedback.models import LedgerEntry
from generation import library
from generation.presets import preset_create
from tests.factories import RenderJobFactory, render_settings
from tests.feedback.conftest import finished_clip

pytestmark = pytest.mark.django_db

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
# The coverage phase (every boundary and every kind of invalid value of every field, ~2,000 requests, a few
# minutes) runs when BACKLOT_FUZZ_COVERAGE=1; by default the documented examples and 20 generated (valid
# and invalid) cases per operation.
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20250701,
        "generation": {"max-examples": 20, "deterministic": True, "database": "none"},
        "phases": {"coverage": {"enabled": os.environ.get("BACKLOT_FUZZ_COVERAGE") == "1"}},
    }
)
schema = schemathesis.openapi.from_dict(SCHEMA, config=CONFIG)
STAFF_PATHS = "^/api/v1/audit/"
# The objects and the token are made once per operation; examples run one after another in its transaction.
FIXTURES_SPAN_EXAMPLES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def app(settings):
    """Django's WSGI handler, as gunicorn runs it. Like Django's test client, it leaves the test's database
    connection open between requests (the test runs in one transaction, rolled back at its end)."""
    settings.LEAK_BURST_MIN_JOBS = 10_000  # the fuzzer submits jobs in bursts; that is not a leak here
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    handler = WSGIHandler()

    def wsgi(environ, start_response):
        environ.setdefault("REMOTE_ADDR", "127.0.0.1")  # every server sets it; Werkzeug's test client does not
        return handler(environ, start_response)

    yield wsgi
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def existing(tester, programme, admin_user, rates):
    """Objects of the tester's that requests by id can find: path template -> ids."""
    clip = finished_clip(tester, programme=programme)
    waiting = RenderJobFactory(owner=tester, grant=Grant.objects.get(user=tester, programme=programme))
    preset = preset_create(
        name="Night city",
        owner=tester,
        actor=tester,
        settings=render_settings(num_frames=25, width=256, height=192, num_steps=4),
    )
    rating = ratings.rating_save(job=clip, author=tester, prompt_adherence=4, motion=3, visual_quality=4, artefacts=2)
    report = reports.report_file(
        reporter=tester,
        kind="bug",
        title="Last frames turn grey",
        severity="high",
        job=clip,
        steps="Render 9 frames",
        expected="colour",
        actual="grey",
    )
    reports.report_transition(report=report, to_state="confirmed", actor=admin_user)
    collection = library.collection_create(owner=tester, name="Storms")
    library.collection_add(collection=collection, job=clip)
    return {
        "clips": [str(clip.pk)],
        "/api/v1/jobs/{id}/": [str(clip.pk), str(waiting.pk)],
        "/api/v1/jobs/{id}/cancel/": [str(clip.pk), str(waiting.pk)],
        "/api/v1/jobs/{id}/favourite/": [str(clip.pk), str(waiting.pk)],
        "/api/v1/collections/{id}/": [collection.pk],
        "/api/v1/collections/{id}/clips/": [collection.pk],
        "/api/v1/collections/{id}/clips/{job_id}/": [collection.pk],
        "/api/v1/presets/{id}/": [preset.pk],
        "/api/v1/feedback/ratings/{id}/": [rating.pk],
        "/api/v1/feedback/reports/{id}/": [report.pk],
        "/api/v1/feedback/reports/{id}/comments/": [report.pk],
        "/api/v1/feedback/ledger/{id}/": list(LedgerEntry.objects.filter(person=tester).values_list("pk", flat=True)),
        "/api/v1/audit/{id}/": list(AuditEvent.objects.filter(programme=programme).values_list("pk", flat=True)[:3]),
    }


@pytest.fixture
def token(tester):
    return token_create(user=tester, name="fuzz", scopes=["read", "generate", "feedback"])[1]


@pytest.fixture
def rates(programme, admin_user):
    rate_publish(programme=programme, kind="bug", severity="", points=10, amount="10", currency="USD", actor=admin_user)


def _pick(generated, real: list):
    """The generated value or one of the real ones, chosen by the generated value (so runs repeat)."""
    choices = [generated, *real]
    return choices[zlib.crc32(repr(generated).encode()) % len(choices)]


def _with_real_objects(case, existing):
    """Often ask for an object that exists instead of a generated id, and rate or report a real clip."""
    ids = existing.get(case.operation.path)
    if ids and case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = _pick(case.path_parameters["id"], ids)
    if isinstance(case.body, dict) and "job" in case.body:
        case.body["job"] = _pick(case.body["job"], existing["clips"])


@schema.parametrize()
@FIXTURES_SPAN_EXAMPLES
def test_every_operation_answers_as_documented_to_a_token(case, app, token, existing):
    cache.clear()  # rate limits start afresh for each example; the fuzzer is not measuring throttling
    _with_real_objects(case, existing)
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


@pytest.fixture
def admin_session(admin_user):
    browser = Client()
    browser.force_login(admin_user)
    return browser.cookies[django_settings.SESSION_COOKIE_NAME].value


@schema.include(path_regex=STAFF_PATHS).parametrize()
@FIXTURES_SPAN_EXAMPLES
def test_staff_operations_answer_as_documented_to_an_admin_session(case, app, admin_session, existing):
    cache.clear()
    _with_real_objects(case, existing)
    case.call_and_validate(app=app, cookies={django_settings.SESSION_COOKIE_NAME: admin_session}, checks=CHECKS)


# Refusals come before the input is read, so two valid cases per operation are enough to show their shape.
refusals = schemathesis.openapi.from_dict(
    SCHEMA,
    config=schemathesis.Config.from_dict(
        {
            "seed": 20250701,
            "generation": {"mode": "positive", "max-examples": 2, "deterministic": True, "database": "none"},
            "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}},
        }
    ),
)


@refusals.parametrize()
@FIXTURES_SPAN_EXAMPLES
def test_every_operation_refuses_as_documented(case, app, tester, admin_user, monkeypatch):
    """No credentials or a revoked token (401), a suspended person (403), too many requests (429)."""
    cache.clear()
    record, revoked = token_create(user=tester, name="revoked", scopes=["read", "generate", "feedback"])
    token_revoke(record=record, actor=admin_user, reason="Posted in a forum")
    for headers in ({}, {"Authorization": f"Bearer {revoked}"}, {"Authorization": "Bearer blt_typo"}):
        assert case.call_and_validate(app=app, headers=headers, checks=CHECKS).status_code == 401

    _, busy = token_create(user=tester, name="busy", scopes=["read", "generate", "feedback"])
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "0/min"})
    throttled = case.call_and_validate(app=app, headers={"Authorization": f"Bearer {busy}"}, checks=CHECKS)
    staff_only = case.operation.path.startswith(("/api/v1/audit/", "/api/v1/traces/"))
    assert throttled.status_code == (403 if staff_only else 429)

    _, kept = token_create(user=tester, name="kept", scopes=["read", "generate", "feedback"])
    suspend(programme=tester.grants.get().programme, user=tester, reason="Leak", actor=admin_user)
    suspended = case.call_and_validate(app=app, headers={"Authorization": f"Bearer {kept}"}, checks=CHECKS)
    assert suspended.status_code == 403
    monkeypatch.undo()  # the next example starts with the person free and the rates as configured
    Suspension.objects.all().delete()


def test_the_fuzzed_schema_is_the_one_the_api_serves(tester_client):
    served = tester_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(SCHEMA, default=str))


def test_the_fuzzer_s_credentials_reach_real_objects(app, token, admin_session, existing):
    """The fuzz would pass on refusals alone (they are documented); these requests show it gets through."""
    client = werkzeug.Client(app)
    for template, ids in existing.items():
        if template.startswith("/api/v1/") and not template.endswith("/cancel/") and "comments" not in template:
            for pk in ids:
                path = template.replace("{id}", str(pk))
                if template.startswith("/api/v1/audit/"):
                    client.set_cookie(django_settings.SESSION_COOKIE_NAME, admin_session)
                    response = client.get(path)
                else:
                    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200, (path, response.get_data(as_text=True))
                assert response.json["id"] in (pk, str(pk))
