import pytest
from django.urls import reverse

from access.models import Role
from tests.conftest import member, with_totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_admin(programme):
    return member("newadmin@example.org", programme=programme, role=Role.ADMIN, is_staff=True)


@pytest.mark.parametrize("path", ["/leak-alerts/", "/admin/", "/manage/"])
def test_staff_pages_lead_to_two_factor_setup_first(client, new_admin, path):
    client.force_login(new_admin)
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


def test_the_staff_api_says_why(client, new_admin):
    client.force_login(new_admin)
    response = client.get("/api/v1/audit/")
    assert response.status_code == 403 and response.json()["code"] == "mfa_required"


def test_with_an_authenticator_staff_pages_open(client, new_admin):
    client.force_login(with_totp(new_admin))
    assert client.get("/leak-alerts/").status_code == 200
    assert client.get("/api/v1/audit/").status_code == 200


def test_testers_pages_need_no_second_factor(tester_client):
    assert tester_client.get(reverse("generation:job_list")).status_code == 200


def test_the_requirement_is_a_setting(client, new_admin, settings):
    settings.BACKLOT_STAFF_MFA_REQUIRED = False
    client.force_login(new_admin)
    assert client.get("/leak-alerts/").status_code == 200


def test_people_who_are_not_staff_get_the_pages_own_answer(tester_client):
    assert tester_client.get("/manage/").status_code in (403, 404)
    assert tester_client.get("/leak-alerts/").status_code == 404
