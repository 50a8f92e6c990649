"""The first run on a new box has no SMTP: `manage.py operator_create` makes the operator's account usable at once
(its address verified because the operator typed it), the first sign-in goes through allauth's real sign-in page
with no email sent and lands on two-factor set-up; bad input is a clear error that creates nothing. And
`check --deploy` says when SITE_URL or the email backend are still their development values."""

import getpass
import io
import sys
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from access.checks import email_backend_check, site_url_check
from access.models import AuditEvent

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSPHRASE = "quiet-harbour-lantern-42"


def _operator(monkeypatch, *args, password=PASSPHRASE):
    monkeypatch.setenv("BACKLOT_OPERATOR_PASSWORD", password)
    out = io.StringIO()
    call_command(
        "operator_create",
        "--email",
        "Ops@Example.org",
        *args,
        "--password-from-env",
        "BACKLOT_OPERATOR_PASSWORD",
        stdout=out,
    )
    return out.getvalue()


def _state():
    return User.objects.count(), EmailAddress.objects.count(), AuditEvent.objects.count()


def test_a_fresh_database_to_a_signed_in_operator_with_no_email_lands_on_two_factor_setup(monkeypatch):
    assert not User.objects.exists()

    output = _operator(monkeypatch, "--name", "Olu Operator")

    operator = User.objects.get()
    assert operator.email == "ops@example.org" and operator.is_staff and operator.is_superuser
    assert EmailAddress.objects.filter(user=operator, email="ops@example.org", verified=True, primary=True).exists()
    assert AuditEvent.objects.filter(action="access.operator_created", subject=operator).exists()
    assert "no email is needed" in output and "two-factor" in output

    client = Client()
    response = client.post(reverse("account_login"), {"login": "ops@example.org", "password": PASSPHRASE}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("mfa_activate_totp")
    assert b'name="code"' in response.content, "the form that takes the authenticator's first code"
    assert "_auth_user_id" in client.session, "signed in by the password alone: there is no authenticator yet"
    assert mail.outbox == [], "no step of the first sign-in sends an email"
    # Every staff page leads to the same set-up until it is done.
    for path in ("/manage/", "/staff/queue/", "/staff/programmes/", "/admin/"):
        assert client.get(path)["Location"] == reverse("mfa_activate_totp"), path

    # Setting up the authenticator app (its first code, as the app would show it) opens the staff pages.
    secret = response.context["form"].secret
    done = client.post(
        reverse("mfa_activate_totp"), {"code": format_hotp_value(hotp_value(secret, int(time.time()) // 30))}
    )
    assert done.status_code == 302
    assert Authenticator.objects.filter(user=operator, type=Authenticator.Type.TOTP).exists()
    assert client.get("/staff/programmes/").status_code == 200
    assert client.get("/staff/queue/").status_code == 200
    assert mail.outbox == []


def test_the_password_can_come_from_standard_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSPHRASE + "\n"))
    call_command("operator_create", "--email", "ops@example.org", "--password-stdin", stdout=io.StringIO())
    assert User.objects.get().check_password(PASSPHRASE)


def test_at_a_terminal_the_password_is_asked_twice(monkeypatch):
    answers = iter([PASSPHRASE, PASSPHRASE])
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    call_command("operator_create", "--email", "ops@example.org", stdout=io.StringIO())
    assert User.objects.get().check_password(PASSPHRASE)


def test_two_different_passwords_at_a_terminal_create_nothing(monkeypatch):
    answers = iter([PASSPHRASE, PASSPHRASE + "x"])
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(answers))
    with pytest.raises(CommandError, match="The two passwords differ; nothing was created"):
        call_command("operator_create", "--email", "ops@example.org", stdout=io.StringIO())
    assert _state() == (0, 0, 0)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-address", PASSPHRASE, "'not-an-address' is not a valid email address"),
        ("", PASSPHRASE, "'' is not a valid email address"),
        ("ops@example.org", "", "The password is empty"),
        ("ops@example.org", "short", "too short"),
        ("ops@example.org", "password123", "too common"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(monkeypatch, email, password, message):
    monkeypatch.setenv("PW", password)
    with pytest.raises(CommandError, match=message):
        call_command("operator_create", "--email", email, "--password-from-env", "PW", stdout=io.StringIO())
    assert _state() == (0, 0, 0) and mail.outbox == []


def test_an_existing_account_is_refused_and_left_as_it_was(monkeypatch, outsider):
    before = _state()
    monkeypatch.setenv("PW", PASSPHRASE)
    with pytest.raises(CommandError, match=f"An account for {outsider.email} already exists"):
        call_command(
            "operator_create", "--email", outsider.email.upper(), "--password-from-env", "PW", stdout=io.StringIO()
        )
    outsider.refresh_from_db()
    assert _state() == before and not outsider.is_staff and not outsider.is_superuser


def test_a_missing_password_source_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(CommandError, match="The environment variable NOT_SET_ANYWHERE is not set"):
        call_command("operator_create", "--email", "ops@example.org", "--password-from-env", "NOT_SET_ANYWHERE")
    # Not at a terminal (as under a script) and no source named: it says how, rather than hang on a prompt.
    with pytest.raises(CommandError, match="run this in a terminal to be asked for one, or use --password-from-env"):
        call_command("operator_create", "--email", "ops@example.org")
    assert _state() == (0, 0, 0)


# --- check --deploy ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "site_url",
    ["http://localhost:8000", "http://127.0.0.1:8000/", "https://localhost", "http://[::1]:8000", "backlot.example"],
)
def test_a_development_or_malformed_site_url_is_warned_about(settings, site_url):
    settings.SITE_URL = site_url
    [warning] = site_url_check()
    assert warning.id == "access.W001" and repr(site_url) in warning.msg and "SITE_URL" in warning.hint


@pytest.mark.parametrize("site_url", ["https://backlot.example.org", "https://video.example.com/backlot/"])
def test_a_public_site_url_passes(settings, site_url):
    settings.SITE_URL = site_url
    assert site_url_check() == []


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ("django.core.mail.backends.console.EmailBackend", "prints every email to the log"),
        ("django.core.mail.backends.dummy.EmailBackend", "throws every email away"),
    ],
)
def test_an_email_backend_that_delivers_nothing_is_warned_about(settings, backend, says):
    settings.EMAIL_BACKEND = backend
    [warning] = email_backend_check()
    assert warning.id == "access.W002" and says in warning.msg and "smtp.EmailBackend" in warning.hint


def test_smtp_passes(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert email_backend_check() == []


def test_both_checks_run_only_for_a_deployment():
    from django.core.checks import registry

    deploy_only = registry.registry.get_checks(include_deployment_checks=True)
    everyday = registry.registry.get_checks(include_deployment_checks=False)
    assert {site_url_check, email_backend_check} <= set(deploy_only)
    assert not {site_url_check, email_backend_check} & set(everyday)
