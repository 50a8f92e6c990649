"""Where people land after signing in, and setting up two-factor right after signing in without typing the
password again (ACCOUNT_REAUTHENTICATION_TIMEOUT counts the sign-in, as allauth documents it)."""

import pytest
from django.test import Client
from django.urls import reverse

from access.models import Role
from tests.conftest import member, with_totp
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _sign_in(person) -> tuple[Client, str]:
    client = Client()
    response = client.post(reverse("account_login"), {"login": person.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    landing = client.get(response["Location"])
    return client, landing["Location"]


def test_an_artist_who_may_render_lands_on_their_clips(tester):
    assert _sign_in(tester)[1] == reverse("generation:job_list")


def test_a_reviewer_lands_on_their_reviews_not_on_a_gallery(programme):
    reviewer = member("new-reviewer@example.org", programme=programme, role=Role.REVIEWER)
    assert _sign_in(reviewer)[1] == reverse("reviews:index")


def test_a_programme_admin_who_cannot_render_lands_on_manage(programme):
    admin = member("new-admin@example.org", programme=programme, role=Role.ADMIN)
    assert _sign_in(admin)[1] == reverse("access:manage_index")


def test_the_operators_staff_land_on_the_queue(db):
    staff = UserFactory(email="ops@example.org", is_staff=True)
    assert _sign_in(staff)[1] == reverse("generation_staff:queue")


def test_someone_with_nothing_yet_lands_on_their_empty_clips(outsider):
    assert _sign_in(outsider)[1] == reverse("generation:job_list")


def test_two_factor_setup_right_after_sign_in_asks_for_no_password(programme):
    reviewer = member("setup@example.org", programme=programme, role=Role.REVIEWER)
    client, _ = _sign_in(reviewer)
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200
    assert b"Activate" in response.content and b'name="code"' in response.content  # the form taking the first code


def test_two_factor_setup_asks_for_the_password_once_the_sign_in_is_old(programme, settings):
    reviewer = member("later@example.org", programme=programme, role=Role.REVIEWER)
    client, _ = _sign_in(reviewer)
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 0
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))


def test_removing_two_factor_still_asks_again_once_the_sign_in_is_old(programme, settings):
    admin = with_totp(member("remove@example.org", programme=programme, role=Role.ADMIN))
    client = Client()
    client.force_login(admin)  # a complete sign-in, second factor included (tests/conftest.py)
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 0
    response = client.get(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
