import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.urls import reverse

from access.models import User

pytestmark = pytest.mark.django_db


def _sign_in(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_adduser_creates_an_account_that_can_sign_in(client, capsys):
    call_command("adduser", "New.Person@Example.org", "--password", "a-long-enough-passphrase", "--name", "New")

    user = User.objects.get()
    assert user.email == "new.person@example.org"
    assert user.display_name == "New"
    assert EmailAddress.objects.get(user=user).verified
    response = _sign_in(client, "new.person@example.org", "a-long-enough-passphrase")
    assert response.status_code == 302
    assert client.get(reverse("generation:job_list")).status_code == 200


def test_adduser_prints_a_generated_password_that_works(client, capsys):
    call_command("adduser", "gen@example.org")

    output = capsys.readouterr().out
    password = output.split("Password: ")[1].strip()
    assert _sign_in(client, "gen@example.org", password).status_code == 302


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", "a-long-enough-passphrase", "valid email"),
        ("weak@example.org", "short", "too short"),
        ("weak@example.org", "password123", "too common"),
    ],
)
def test_adduser_rejects_bad_input_and_creates_nothing(email, password, message):
    with pytest.raises(CommandError, match=message):
        call_command("adduser", email, "--password", password)
    assert not User.objects.exists()
    assert not EmailAddress.objects.exists()


def test_adduser_rejects_an_existing_address(tester):
    with pytest.raises(CommandError, match="already exists"):
        call_command("adduser", tester.email.upper(), "--password", "a-long-enough-passphrase")
    assert User.objects.count() == 1


def test_sign_up_is_closed():
    client_response = _signup_response()
    assert client_response.status_code == 200
    assert b"Sign-up is closed" in client_response.content
    assert not User.objects.exists()


def _signup_response():
    from django.test import Client

    return Client().post(
        reverse("account_signup"),
        {
            "email": "intruder@example.org",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )


def test_a_wrong_password_is_refused(client, tester):
    response = _sign_in(client, tester.email, "not-the-password")
    assert response.status_code == 200
    assert b"not correct" in response.content
    assert client.get(reverse("generation:job_list")).status_code == 302


def test_a_deactivated_account_cannot_sign_in(client, tester, password):
    tester.is_active = False
    tester.save()
    response = _sign_in(client, tester.email, password)
    assert client.get(reverse("generation:job_list")).status_code == 302
    assert response.status_code in (200, 302)
