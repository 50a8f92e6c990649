"""Leak detection, driven by real HTTP requests to a live server from several loopback addresses."""

import http.client
import json
from urllib.parse import urlparse

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client

from access.leaks import alert_decide, credential_sighted
from access.models import ApiToken, AuditEvent, LeakAlert
from access.tokens import token_create
from generation.models import RenderJob
from tests.factories import job_settings

pytestmark = pytest.mark.django_db(transaction=True)

SMALL = job_settings()


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.LEAK_MAX_NETWORKS = 3
    settings.LEAK_IPV4_PREFIX = 32  # every loopback address counts as its own network here


def _request(live_server, path, *, source, method="GET", headers=None, body=None):
    url = urlparse(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, source_address=(source, 0), timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _session_cookie(user, password):
    client = Client()
    assert client.login(email=user.email, password=password)
    name = django_settings.SESSION_COOKIE_NAME
    return {"Cookie": f"{name}={client.cookies[name].value}"}


def test_a_session_used_from_too_many_networks_is_ended(live_server, tester, tester2, admin_user, password):
    shared, own = _session_cookie(tester, password), _session_cookie(tester2, password)
    mail.outbox.clear()

    statuses = [_request(live_server, "/clips/", source=f"127.0.0.{n}", headers=shared)[0] for n in (2, 3, 4)]
    fourth, page = _request(live_server, "/clips/", source="127.0.0.5", headers=shared)
    after, _ = _request(live_server, "/clips/", source="127.0.0.2", headers=shared)

    assert statuses == [200, 200, 200]
    assert fourth == 403 and "used from 4 different networks" in page
    assert after == 302, "the session has ended; signing in again is possible"
    alert = LeakAlert.objects.get()
    assert (alert.kind, alert.user, alert.state, alert.details["networks"]) == ("networks", tester, "open", 4)
    assert AuditEvent.objects.filter(action="access.leak_alert", subject=tester).exists()
    assert [message.to for message in mail.outbox] == [[admin_user.email]]
    # Nobody else is affected, and the person can sign in again.
    assert _request(live_server, "/clips/", source="127.0.0.9", headers=own)[0] == 200
    assert _request(live_server, "/clips/", source="127.0.0.2", headers=_session_cookie(tester, password))[0] == 200


def test_a_network_noted_within_30_s_is_not_read_again_but_a_new_network_counts_them_all(
    tester, settings, django_assert_num_queries
):
    settings.LEAK_IPV4_PREFIX = 24
    assert credential_sighted(credential="session:abc", user=tester, ip="10.0.0.1") == 1
    with django_assert_num_queries(0):  # every request of a session asks: the same network is answered from the cache
        assert credential_sighted(credential="session:abc", user=tester, ip="10.0.0.7") == 1
    assert credential_sighted(credential="session:abc", user=tester, ip="10.0.1.1") == 2
    assert credential_sighted(credential="session:abc", user=tester, ip="10.0.2.1") == 3
    assert credential_sighted(credential="session:abc", user=tester, ip="10.0.3.1") == 4  # one too many: not kept
    with django_assert_num_queries(1):
        assert credential_sighted(credential="session:abc", user=tester, ip="10.0.3.1") == 4


def test_a_token_used_from_too_many_networks_is_suspended_until_an_admin_decides(live_server, tester, admin_user):
    record, token = token_create(user=tester, name="script", scopes=["read"])
    auth = {"Authorization": f"Bearer {token}"}

    statuses = [_request(live_server, "/api/v1/jobs/", source=f"127.0.0.{n}", headers=auth)[0] for n in (2, 3, 4)]
    fourth, body = _request(live_server, "/api/v1/jobs/", source="127.0.0.5", headers=auth)
    again, again_body = _request(live_server, "/api/v1/jobs/", source="127.0.0.2", headers=auth)

    assert statuses == [200, 200, 200]
    assert fourth == 401 and "used from 4 different networks" in json.loads(body)["detail"]
    assert again == 401 and "suspended" in json.loads(again_body)["detail"]
    alert = LeakAlert.objects.get(token=record)

    alert_decide(alert=alert, actor=admin_user, confirm=False, note="Their laptop on a train")
    assert _request(live_server, "/api/v1/jobs/", source="127.0.0.2", headers=auth)[0] == 200
    assert AuditEvent.objects.filter(action="access.leak_lifted", actor=admin_user).exists()


def test_confirming_an_alert_revokes_the_token(tester, admin_user):
    from access.leaks import alert_raise, token_credential

    record, _ = token_create(user=tester, name="script", scopes=["read"])
    alert = alert_raise(kind="networks", user=tester, credential=token_credential(record), token=record, networks=5)

    alert_decide(alert=alert, actor=admin_user, confirm=True)

    record.refresh_from_db()
    assert record.state == "revoked" and "Leak confirmed" in record.revoke_reason


def test_a_token_pasted_into_a_prompt_is_suspended(live_server, tester, tester2):
    record, token = token_create(user=tester, name="script", scopes=["read", "generate"])
    _, other = token_create(user=tester2, name="mine", scopes=["read", "generate"])

    status, _ = _request(
        live_server,
        "/api/v1/jobs/",
        source="127.0.0.2",
        method="POST",
        headers={"Authorization": f"Bearer {other}", "Content-Type": "application/json"},
        body=json.dumps({**SMALL, "prompt": f"use the key {token} please"}),
    )

    assert status == 201
    record.refresh_from_db()
    assert record.state == "suspended"
    alert = LeakAlert.objects.get()
    assert (alert.kind, alert.user, alert.details["submitted_by"]) == ("exposed", tester, tester2.email)
    stolen = {"Authorization": f"Bearer {token}"}
    assert _request(live_server, "/api/v1/jobs/", source="127.0.0.2", headers=stolen)[0] == 401


def test_a_burst_of_jobs_suspends_the_credential(live_server, tester, settings):
    settings.LEAK_BURST_MIN_JOBS, settings.LEAK_BURST_FACTOR = 5, 2.0
    record, token = token_create(user=tester, name="bot", scopes=["read", "generate"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def submit():
        return _request(
            live_server, "/api/v1/jobs/", source="127.0.0.2", method="POST", headers=headers, body=json.dumps(SMALL)
        )[0]

    statuses = [submit() for _ in range(5)]

    assert statuses == [201] * 5
    alert = LeakAlert.objects.get()
    assert alert.kind == "burst" and alert.details["jobs_last_hour"] == 5 and alert.token == record
    assert ApiToken.objects.get(pk=record.pk).state == "suspended"
    assert submit() == 401
    assert RenderJob.objects.count() == 5


def test_only_programme_admins_see_and_decide_alerts(client, tester, admin_user):
    from access.leaks import alert_raise

    alert = alert_raise(kind="burst", user=tester, credential="session:abc", jobs_last_hour=99)
    client.force_login(tester)
    assert client.get("/leak-alerts/").status_code == 404
    assert client.post(f"/leak-alerts/{alert.pk}/decide/", {"decision": "lift"}).status_code == 404
    client.force_login(admin_user)
    assert tester.email in client.get("/leak-alerts/").content.decode()
    client.post(f"/leak-alerts/{alert.pk}/decide/", {"decision": "lift", "note": "ok"})
    alert.refresh_from_db()
    assert alert.state == "lifted" and alert.decided_by == admin_user
