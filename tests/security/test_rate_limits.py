"""Rate limits on sign-in, invitations, API token creation and job submission (form and API share one
budget): each a setting, each answering a clear 429 (page or JSON, with Retry-After) and changing nothing."""

import pytest
from django.core import mail
from django.urls import reverse

from access.models import ApiToken, Invitation, Role
from generation.models import RenderJob
from tests.generation.job_requests import PAGE_FORM

pytestmark = pytest.mark.django_db

JOB = {**PAGE_FORM, "prompt": "a fox in snow"}


@pytest.fixture
def limits(settings):
    settings.BACKLOT_RATE_LIMITS = {"invitations": "3/h", "tokens": "2/h", "submissions": "2/h"}
    return settings.BACKLOT_RATE_LIMITS


def assert_429_page(response, text):
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert text in response.content.decode()


def test_repeated_failed_sign_ins_answer_429_even_with_the_right_password(client, tester, password):
    for _ in range(5):
        assert client.post(reverse("account_login"), {"login": tester.email, "password": "nope"}).status_code == 200
    locked = client.post(reverse("account_login"), {"login": tester.email, "password": password})
    assert locked.status_code == 429 and "Too many failed login attempts" in locked.content.decode()
    assert client.get(reverse("generation:job_list")).status_code == 302, "not signed in"


def test_sign_in_attempts_per_address_are_limited_by_a_setting(client, tester, password, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login": "2/m/ip", "login_failed": "100/m/ip"}
    for _ in range(2):
        client.post(reverse("account_login"), {"login": tester.email, "password": "nope"})
    refused = client.post(reverse("account_login"), {"login": tester.email, "password": password})
    assert refused.status_code == 429 and "Too many requests" in refused.content.decode()
    assert client.get(reverse("generation:job_list")).status_code == 302, "not signed in"


def test_invitations_an_admin_sends_are_limited(client, admin_user, cohort, limits, django_capture_on_commit_callbacks):
    client.force_login(admin_user)
    url = reverse("access_manage:invitations", args=[cohort.programme.slug])
    data = {"role": Role.ARTIST, "days": 14, "cohort": cohort.pk}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, data | {"addresses": "a@example.org, b@example.org"}).status_code == 302
        refused = client.post(url, data | {"addresses": "c@example.org, d@example.org"})
    assert_429_page(refused, "Too many invitations: at most 3 per hour each.")
    assert sorted(Invitation.objects.values_list("email", flat=True)) == ["a@example.org", "b@example.org"]
    assert len(mail.outbox) == 2

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, data | {"addresses": "c@example.org"}).status_code == 302, "one more fits"
        first = Invitation.objects.get(email="a@example.org")
        resend = client.post(reverse("access_manage:invitation_resend", args=[cohort.programme.slug, first.pk]))
    assert_429_page(resend, "Too many invitations")
    assert Invitation.objects.count() == 3 and len(mail.outbox) == 3


def test_refused_invitations_do_not_use_up_the_limit(client, admin_user, tester, cohort, limits):
    client.force_login(admin_user)
    url = reverse("access_manage:invitations", args=[cohort.programme.slug])
    data = {"role": Role.ARTIST, "days": 14, "cohort": cohort.pk, "addresses": tester.email}
    for _ in range(4):  # already a member: skipped, nothing sent
        assert client.post(url, data).status_code == 302
    assert client.post(url, data | {"addresses": "a@x.org, b@x.org, c@x.org"}).status_code == 302
    assert Invitation.objects.count() == 3


def test_token_creation_and_rotation_are_limited(client, tester, limits):
    client.force_login(tester)
    url = reverse("tokens:list")
    form = {"name": "laptop", "scopes": ["read"], "days": 30}
    assert [client.post(url, form).status_code for _ in range(2)] == [201, 201]
    refused = client.post(url, form)
    assert_429_page(refused, "Too many API tokens: at most 2 per hour each.")
    assert ApiToken.objects.filter(user=tester).count() == 2

    token = ApiToken.objects.filter(user=tester).first()
    digest = token.digest
    refused = client.post(reverse("tokens:rotate", args=[token.pk]))
    assert_429_page(refused, "Too many API tokens")
    token.refresh_from_db()
    assert token.digest == digest and token.revoked_at is None


def test_job_submission_is_limited_across_the_form_and_the_api(client, tester, limits):
    client.force_login(tester)
    assert client.post(reverse("generation:job_create"), JOB).status_code == 302
    api = client.post("/api/v1/jobs/", {**JOB, "seed": 1}, content_type="application/json")
    assert api.status_code == 201
    assert RenderJob.objects.count() == 2

    refused = client.post(reverse("generation:job_create"), JOB)
    assert_429_page(refused, "Too many render jobs: at most 2 per hour each.")
    assert 'value="a fox in snow"' in refused.content.decode() or "a fox in snow" in refused.content.decode()
    refused = client.post("/api/v1/jobs/", {**JOB, "seed": 1}, content_type="application/json")
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 3600
    assert refused.json()["detail"].startswith("Too many render jobs: at most 2 per hour each.")
    assert RenderJob.objects.count() == 2


def test_variations_count_each_and_refused_jobs_do_not(client, tester, limits):
    client.force_login(tester)
    bad = client.post(reverse("generation:job_create"), JOB | {"width": "700"})
    assert bad.status_code == 400, "a refused job is not counted"
    four = client.post(reverse("generation:job_create"), JOB | {"variations": "4"})
    assert four.status_code == 429 and RenderJob.objects.count() == 0
    two = client.post(reverse("generation:job_create"), JOB | {"variations": "2"})
    assert two.status_code == 302 and RenderJob.objects.count() == 2


def test_a_replayed_api_submission_is_not_counted_twice(client, tester, limits):
    client.force_login(tester)
    for _ in range(3):
        response = client.post(
            "/api/v1/jobs/", {**JOB, "seed": 5}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert response.status_code in (200, 201)
    assert RenderJob.objects.count() == 1
    assert client.post("/api/v1/jobs/", {**JOB, "seed": 6}, content_type="application/json").status_code == 201


def test_the_limits_are_settings_with_sane_defaults(settings):
    from core.ratelimits import rate_parse

    assert {scope: str(rate_parse(rate)) for scope, rate in settings.BACKLOT_RATE_LIMITS.items()} == {
        "invitations": "500 per hour",
        "tokens": "10 per hour",
        "submissions": "120 per hour",
    }


def test_a_malformed_limit_is_a_clear_error():
    import os
    import subprocess
    import sys

    from tests.test_settings import ROOT

    env = {**os.environ, "BACKLOT_RATE_SUBMISSIONS": "lots"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "BACKLOT_RATE_SUBMISSIONS must be count/period" in result.stderr
