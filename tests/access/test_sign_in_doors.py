"""Every door to staff power has two-factor, rate limits, an audit trail and the new-network email: the Django
admin signs in through allauth's flow, a session that skipped the second factor gets nowhere, and a staff member
who removes their last authenticator is signed out everywhere."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.urls import reverse

from access.models import AuditEvent, Role
from access.sign_in import SIGNED_IN, sign_in_record
from tests.conftest import member, session_without_second_factor

pytestmark = pytest.mark.django_db

NETWORK = "203.0.113.9"


@pytest.fixture
def secret():
    return generate_totp_secret()


@pytest.fixture
def staff_admin(programme, secret):
    """Django staff and the programme's admin, with a real authenticator app set up."""
    user = member("ops@example.org", programme=programme, role=Role.ADMIN, is_staff=True)
    TOTP.activate(user, secret)
    return user


def code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def staff_pages(programme) -> list[str]:
    return ["/admin/", "/staff/queue/", "/leak-alerts/", "/leak-alerts/trace/", f"/manage/{programme.slug}/"]


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def admin_door(client) -> str:
    """The sign-in form the Django admin sends a stranger to, wherever it is."""
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200
    return response.redirect_chain[-1][0]


def credentials(user, password):
    return {"username": user.email, "login": user.email, "password": password}  # the admin's and allauth's names


def test_a_password_alone_at_the_admin_login_gives_no_staff_session(client, staff_admin, password, programme):
    response = client.post("/admin/login/?next=/admin/", credentials(staff_admin, password))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert not signed_in(client)
    for path in staff_pages(programme):
        assert client.get(path).status_code == 302, path
    assert client.get("/api/v1/audit/").status_code in (401, 403)


def test_the_admin_door_is_allauths_sign_in_password_then_code(client, staff_admin, password, secret, programme):
    form = admin_door(client)
    assert form.startswith(reverse("account_login")) and parse_qs(urlsplit(form).query)["next"] == ["/admin/"]
    response = client.post(form, credentials(staff_admin, password))
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert not signed_in(client), "the password alone signs nobody in"
    assert client.get("/admin/").status_code == 302

    response = client.post(reverse("mfa_authenticate"), {"code": code(secret)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    for path in [*staff_pages(programme), "/api/v1/audit/"]:
        assert client.get(path).status_code == 200, path


def test_signing_in_at_the_admin_door_is_audited_and_a_new_network_emailed(
    client, staff_admin, password, secret, programme
):
    sign_in_record(user=staff_admin, ip="198.51.100.7")  # their usual network
    mail.outbox.clear()
    form = admin_door(client)
    client.post(form, credentials(staff_admin, password), REMOTE_ADDR=NETWORK)
    client.post(reverse("mfa_authenticate"), {"code": code(secret)}, REMOTE_ADDR=NETWORK)

    event = AuditEvent.objects.filter(action=SIGNED_IN, subject=staff_admin).latest("pk")
    assert event.ip == NETWORK
    assert [message.subject for message in mail.outbox] == [f"New sign-in to Backlot from {NETWORK}"]


def test_the_admin_door_is_rate_limited_like_every_sign_in(client, staff_admin, password):
    form = admin_door(client)
    refused = None
    for attempt in range(30):  # the admin's own form once took 25 wrong passwords, then the right one
        response = client.post(form, credentials(staff_admin, f"wrong-{attempt}"))
        if response.status_code == 429:
            refused = attempt
            break
    assert refused is not None and refused <= 10, "allauth's login_failed limit stops the guessing"
    response = client.post(form, credentials(staff_admin, password))
    assert response.status_code == 429 and not signed_in(client)
    assert "mfa" not in response.get("Location", "")


def test_a_session_that_skipped_the_second_factor_gets_nowhere(client, staff_admin, programme):
    paths = [*staff_pages(programme), "/reviews/", reverse("generation:job_list"), "/account/"]
    for path in paths:
        session_without_second_factor(client, staff_admin)
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(reverse("account_login")), path
        assert not signed_in(client), f"{path}: the session is ended, not just turned away"
    session_without_second_factor(client, staff_admin)
    response = client.get("/api/v1/audit/")
    assert response.status_code == 403 and response.json()["code"] == "second_factor_missing"
    assert AuditEvent.objects.filter(action="access.session_refused", subject=staff_admin).count() == len(paths) + 1


def test_a_session_signed_in_before_any_authenticator_needs_none(client, tester):
    session_without_second_factor(client, tester)
    assert client.get(reverse("generation:job_list")).status_code == 200


def _sessions_of(user) -> list:
    from django.test import Client

    sessions = []
    for _ in range(2):
        browser = Client()
        browser.force_login(user)
        sessions.append(browser)
    return sessions


def test_removing_the_last_authenticator_ends_every_session_of_a_staff_member(staff_admin, programme, secret):
    this, other = _sessions_of(staff_admin)
    authenticator = Authenticator.objects.get(user=staff_admin, type=Authenticator.Type.TOTP)
    assert this.get(f"/manage/{programme.slug}/").status_code == 200
    # allauth asks for the code again before the change (reauthentication), then deactivates.
    response = this.post(reverse("mfa_reauthenticate"), {"code": code(secret)})
    assert response.status_code == 302
    response = this.post(reverse("mfa_deactivate_totp"), {})
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert not Authenticator.objects.filter(pk=authenticator.pk).exists()

    for browser in (this, other):
        assert not signed_in(browser) or browser.get("/account/").status_code == 302
        assert browser.get(f"/manage/{programme.slug}/").status_code == 302
        assert browser.get(f"/manage/{programme.slug}/")["Location"].startswith(reverse("account_login"))
    event = AuditEvent.objects.get(action="access.two_factor_removed", subject=staff_admin)
    assert event.actor == staff_admin and event.programme == programme
    assert event.data["last"] is True and event.data["sessions_ended"] is True


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.ADMIN])
def test_programme_staff_are_signed_out_when_their_last_authenticator_goes(client, programme, role):
    from tests.conftest import with_totp

    person = with_totp(member("staffer@example.org", programme=programme, role=role))
    client.force_login(person)
    assert client.get("/account/").status_code == 200
    Authenticator.objects.filter(user=person).delete()  # e.g. from the Django admin
    assert client.get("/account/").status_code == 302
    assert AuditEvent.objects.filter(action="access.two_factor_removed", subject=person).exists()


def test_a_tester_who_removes_their_authenticator_stays_signed_in(client, tester):
    from tests.conftest import with_totp

    client.force_login(with_totp(tester))
    Authenticator.objects.filter(user=tester).delete()
    assert client.get(reverse("generation:job_list")).status_code == 200
    event = AuditEvent.objects.get(action="access.two_factor_removed", subject=tester)
    assert event.data["sessions_ended"] is False


class CountingHasher(MD5PasswordHasher):
    """MD5 (as the suite uses) that counts the hashes computed: the CPU a failed sign-in costs us."""

    hashes = 0

    def encode(self, password, salt):
        CountingHasher.hashes += 1
        return super().encode(password, salt)


@pytest.mark.parametrize("email", ["nobody@example.org", "ops@example.org"], ids=["unknown email", "wrong password"])
def test_a_failed_sign_in_costs_one_password_hash(client, settings, staff_admin, email):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    staff_admin.set_password("the right one")
    staff_admin.save()
    CountingHasher.hashes = 0

    response = client.post(reverse("account_login"), {"login": email, "password": "a wrong guess"})

    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert CountingHasher.hashes == 1
