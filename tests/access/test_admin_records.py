"""The Django admin for raw records: token revocation and terms publishing go through the services."""

import pytest
from django.urls import reverse

from access.models import ApiToken, AuditEvent, TermsVersion
from access.terms import terms_publish
from access.tokens import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    return client


def test_an_admin_revokes_any_token(superuser_client, tester, admin_user):
    record, _ = token_create(user=tester, name="laptop", scopes=["read"])

    superuser_client.post(
        reverse("admin:access_apitoken_changelist"), {"action": "revoke", "_selected_action": [record.pk]}
    )

    record.refresh_from_db()
    assert record.state == "revoked" and record.revoked_by == admin_user
    assert AuditEvent.objects.filter(action="access.token_revoked", actor=admin_user, subject=tester).exists()


def test_publishing_terms_in_the_admin_numbers_and_audits_them(superuser_client, programme, admin_user):
    terms_publish(programme=programme, text="First.", actor=admin_user)
    url = reverse("admin:access_termsversion_add")

    refused = superuser_client.post(url, {"programme": programme.pk, "text": "Second.", "changes": ""})
    superuser_client.post(url, {"programme": programme.pk, "text": "Second.", "changes": "A second sentence."})

    assert refused.status_code == 200 and "Say what changed" in refused.content.decode()
    assert list(TermsVersion.objects.values_list("version", "text")) == [(2, "Second."), (1, "First.")]
    assert AuditEvent.objects.filter(action="access.terms_published", data__version=2, actor=admin_user).exists()


def test_tokens_cannot_be_added_or_deleted_in_the_admin(superuser_client, tester):
    record, _ = token_create(user=tester, name="laptop", scopes=["read"])
    assert superuser_client.get(reverse("admin:access_apitoken_add")).status_code == 403
    assert superuser_client.post(reverse("admin:access_apitoken_delete", args=[record.pk])).status_code == 403
    assert ApiToken.objects.filter(pk=record.pk).exists()


def test_repeated_failed_sign_ins_lock_the_account_for_a_while(client, tester, password):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": tester.email, "password": "wrong-password"})

    locked = client.post(reverse("account_login"), {"login": tester.email, "password": password})

    assert locked.status_code in (200, 429)
    assert "Too many failed login attempts" in locked.content.decode()
    assert client.get(reverse("generation:job_list")).status_code == 302
