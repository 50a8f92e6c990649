"""People's own data and sign-ins: the account page, the export, sessions and new-network emails."""

import csv
import io
import json
import zipfile

import pytest
from allauth.usersessions.models import UserSession
from django.core import mail
from django.test import Client
from django.urls import reverse

from access.export import export_build
from access.models import AuditEvent
from access.suspensions import suspend
from access.tokens import token_create
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db

EXPORT_URL = "/account/export/"
FILES = {
    "README.txt",
    "profile.json",
    "jobs.csv",
    "jobs.json",
    "input_images.json",
    "favourites.json",
    "collections.json",
    "api_tokens.json",
    "audit.json",
    "ratings.csv",
    "bug_reports.csv",
    "findings.csv",
    "ledger.csv",
    "showcase.csv",
    "competition_entries.csv",
    "competition_scores.csv",
    "competition_appeals.csv",
}


def _unzip(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def _sign_in(email, password, ip="10.1.2.3", user_agent="TestBrowser/1.0"):
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)  # every request of this client comes from ip
    response = client.post(reverse("account_login"), {"login": email, "password": password})
    assert response.status_code == 302, response.content[:500]
    return client


# --- The account page ----------------------------------------------------------------------------


def test_account_page_links_to_export_tokens_sessions_password_and_2fa(tester_client, cohort):
    response = tester_client.get("/account/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Your account" in page
    for href in (EXPORT_URL, "/account/tokens/", "/accounts/sessions/", "/accounts/password/change/", "/accounts/2fa/"):
        assert f'href="{href}"' in page
    assert "Wave 1" in page


@pytest.mark.parametrize("url", ["/account/", EXPORT_URL])
def test_account_pages_send_anonymous_visitors_to_sign_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not AuditEvent.objects.filter(action="access.data_exported").exists()


# --- The export ----------------------------------------------------------------------------------


def test_export_is_a_zip_attachment_of_the_persons_data(tester_client, tester):
    response = tester_client.get(EXPORT_URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="backlot-export-')
    assert response["Content-Disposition"].endswith('.zip"')
    assert "no-store" in response["Cache-Control"]
    assert set(_unzip(response.content)) == FILES


def test_export_holds_the_persons_jobs_and_not_anyone_elses(tester, tester2):
    mine = RenderJobFactory(owner=tester, prompt="my lighthouse at dusk", negative_prompt="blur", seed=7)
    theirs = RenderJobFactory(owner=tester2, prompt="someone else's secret prompt")

    files = _unzip(export_build(tester))

    jobs = json.loads(files["jobs.json"])
    assert [job["id"] for job in jobs] == [str(mine.pk)]
    job = jobs[0]
    assert job["prompt"] == "my lighthouse at dusk"
    assert job["negative_prompt"] == "blur"
    assert (job["model_key"], job["num_frames"], job["width"], job["height"], job["num_steps"]) == (
        "ltx-video",
        9,
        128,
        128,
        2,
    )
    assert (job["guidance_scale"], job["seed"], job["state"]) == (3.0, 7, "queued")
    assert job["queued_at"] and job["started_at"] is None and job["charged_seconds"] == 0
    rows = list(csv.DictReader(io.StringIO(files["jobs.csv"])))
    assert [row["id"] for row in rows] == [str(mine.pk)]
    assert rows[0]["prompt"] == "my lighthouse at dusk" and rows[0]["started_at"] == ""
    assert "output" not in job and "secret prompt" not in "".join(files.values())
    assert str(theirs.pk) not in "".join(files.values())


def test_export_profile_lists_the_persons_memberships(tester):
    profile = json.loads(_unzip(export_build(tester))["profile.json"])

    assert profile["email"] == "tester@example.org"
    assert profile["display_name"] == "Tess Tester"
    assert profile["date_joined"]
    assert profile["memberships"] == [
        {"programme": "Alpha", "cohort": "Wave 1", "role": "artist", "since": profile["memberships"][0]["since"]}
    ]


def test_export_lists_tokens_but_never_their_digests(tester, tester2):
    record, token = token_create(user=tester, name="laptop", scopes=["read"], days=30)
    token_create(user=tester2, name="someone else's token", scopes=["read"], days=30)

    files = _unzip(export_build(tester))

    tokens = json.loads(files["api_tokens.json"])
    assert [(t["name"], t["hint"], t["scopes"], t["state"]) for t in tokens] == [
        ("laptop", record.hint, ["read"], "active")
    ]
    assert set(tokens[0]) == {
        "name",
        "hint",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "state",
    }
    everything = "".join(files.values())
    assert record.digest not in everything
    assert token not in everything
    assert "someone else's token" not in everything


def test_export_audit_holds_events_by_or_about_the_person_only(tester, tester2, admin_user):
    files = _unzip(export_build(tester))

    events = json.loads(files["audit.json"])
    actions = {event["action"] for event in events}
    assert {"access.membership_added", "access.grant_created"} <= actions
    assert set(events[0]) == {"at", "action", "target", "reason"}
    assert "tester2@example.org" not in files["audit.json"]


def test_export_writes_an_audit_event(tester_client, tester):
    tester_client.get(EXPORT_URL, REMOTE_ADDR="10.9.8.7")

    event = AuditEvent.objects.get(action="access.data_exported")
    assert (event.actor, event.subject, event.ip) == (tester, tester, "10.9.8.7")


def test_readme_describes_every_file(tester):
    readme = _unzip(export_build(tester))["README.txt"]

    assert "tester@example.org" in readme and "Made: " in readme
    for name in FILES - {"README.txt"}:
        assert name in readme


def test_a_suspended_person_can_export_but_use_nothing_else(client, tester, admin_user, cohort):
    RenderJobFactory(owner=tester, prompt="made before the suspension")
    suspend(programme=cohort.programme, user=tester, reason="Shared clips", actor=admin_user)
    tester.refresh_from_db()  # the suspension ended every session it had
    client.force_login(tester)

    assert client.get(reverse("generation:job_list")).status_code == 403
    assert client.get("/account/").status_code == 403
    assert client.get("/account/tokens/").status_code == 403
    response = client.get(EXPORT_URL)

    assert response.status_code == 200
    assert "made before the suspension" in _unzip(response.content)["jobs.json"]
    assert AuditEvent.objects.filter(action="access.data_exported", subject=tester).exists()


def test_export_refuses_other_methods(tester_client):
    assert tester_client.post(EXPORT_URL).status_code == 405


# --- Sessions ------------------------------------------------------------------------------------


def test_sessions_page_lists_only_the_persons_own_sessions(tester, tester2, password):
    mine = _sign_in(tester.email, password, ip="10.1.2.3", user_agent="MyBrowser/2.0")
    _sign_in(tester2.email, password, ip="10.200.0.9", user_agent="TheirBrowser/9.9")

    response = mine.get("/accounts/sessions/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>Sessions · Backlot</title>" in page
    assert "10.1.2.3" in page and "MyBrowser/2.0" in page
    assert "10.200.0.9" not in page and "TheirBrowser" not in page
    assert "Last seen" in page and "This session" in page


def test_ending_other_sessions_signs_them_out(tester, tester2, password):
    here = _sign_in(tester.email, password, ip="10.1.2.3", user_agent="Here/1.0")
    there = _sign_in(tester.email, password, ip="10.1.2.4", user_agent="There/1.0")
    someone_else = _sign_in(tester2.email, password, ip="10.1.2.5")
    assert there.get(reverse("generation:job_list")).status_code == 200
    page = here.get("/accounts/sessions/").content.decode()
    assert "There/1.0" in page and "Sign out other sessions" in page

    response = here.post("/accounts/sessions/")

    assert response.status_code == 302
    assert there.get(reverse("generation:job_list")).status_code == 302  # sent to sign in
    assert here.get(reverse("generation:job_list")).status_code == 200
    assert someone_else.get(reverse("generation:job_list")).status_code == 200
    assert UserSession.objects.filter(user=tester).count() == 1
    assert "There/1.0" not in here.get("/accounts/sessions/").content.decode()


def test_sessions_page_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/accounts/sessions/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- Sign-ins from new networks ------------------------------------------------------------------


def test_every_sign_in_is_audited_with_its_network(tester, password):
    _sign_in(tester.email, password, ip="10.1.2.3")

    event = AuditEvent.objects.get(action="access.signed_in")
    assert (event.actor, event.subject, event.ip) == (tester, tester, "10.1.2.3")
    assert event.data == {"network": "10.1.2.0/24"}


def test_a_sign_in_from_a_new_network_is_emailed_but_not_the_first_or_a_known_one(tester, tester2, password):
    mail.outbox.clear()

    _sign_in(tester.email, password, ip="10.1.2.3")  # the account's first sign-in: nothing to compare
    _sign_in(tester.email, password, ip="10.1.2.77")  # the same /24
    _sign_in(tester2.email, password, ip="192.0.2.10")  # someone else's networks are not this person's
    assert mail.outbox == []

    _sign_in(tester.email, password, ip="192.0.2.10", user_agent="Strange/6.6")

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [tester.email]
    assert message.subject == "New sign-in to Backlot from 192.0.2.10"
    assert "Strange/6.6" in message.body
    assert "/accounts/sessions/" in message.body and "/accounts/password/change/" in message.body
    assert AuditEvent.objects.filter(action="access.signed_in", subject=tester).count() == 3

    mail.outbox.clear()
    _sign_in(tester.email, password, ip="192.0.2.99")  # now a known network
    assert mail.outbox == []


def test_a_failed_sign_in_is_not_recorded(client, tester):
    client.post(reverse("account_login"), {"login": tester.email, "password": "wrong-password"}, REMOTE_ADDR="10.1.2.3")

    assert not AuditEvent.objects.filter(action="access.signed_in").exists()
