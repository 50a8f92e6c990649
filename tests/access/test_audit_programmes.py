"""Every access event carries its programme, so the programme's admins see it in their trail. An event about
a person rather than one programme (a leak alert, a token, a sign-in, a data export) is recorded once for each
programme the person belongs to."""

import pytest
from django.test import Client

from access.export import export_create
from access.leaks import alert_decide, alert_raise, token_credential
from access.models import AuditEvent, LeakAlert, Role
from access.programmes import cohort_create, membership_add, programme_create
from access.sign_in import sign_in_record
from access.tokens import token_create, token_revoke, token_rotate
from tests.conftest import member, with_totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def beta():
    return programme_create(name="Beta")


@pytest.fixture
def beta_admin(beta):
    return with_totp(member("admin@beta.example.org", programme=beta, role=Role.ADMIN, is_staff=True))


def _page(user, path) -> str:
    browser = Client()
    browser.force_login(user)
    response = browser.get(path)
    assert response.status_code == 200
    return response.content.decode()


def test_a_leak_alert_reaches_the_audit_trail_of_every_programme_of_the_person(
    tester, admin_user, beta, beta_admin, programme
):
    membership_add(user=tester, programme=beta, role=Role.ARTIST, cohort=cohort_create(programme=beta, name="B1"))
    record, _ = token_create(user=tester, name="laptop", scopes=["read"])
    alert = alert_raise(kind=LeakAlert.Kind.NETWORKS, user=tester, credential=token_credential(record), token=record)

    events = AuditEvent.objects.filter(action="access.leak_alert")
    assert sorted(event.programme.slug for event in events) == ["alpha", "beta"]
    assert all(event.subject == tester for event in events)
    for admin, slug in ((admin_user, "alpha"), (beta_admin, "beta")):
        assert "access.leak_alert" in _page(admin, f"/manage/{slug}/audit/")
        assert "access.leak_alert" in _page(admin, f"/manage/{slug}/audit/?action=access.leak_alert")

    alert_decide(alert=alert, actor=admin_user, confirm=False, note="Was on a train")
    lifted = AuditEvent.objects.filter(action="access.leak_lifted")
    assert sorted(event.programme.slug for event in lifted) == ["alpha", "beta"]


def test_every_access_event_about_a_member_carries_their_programme(tester, admin_user, programme):
    record, _ = token_create(user=tester, name="laptop", scopes=["read"])
    record, _ = token_rotate(record=record, actor=tester)
    alert = alert_raise(kind=LeakAlert.Kind.EXPOSED, user=tester, credential=token_credential(record), token=record)
    alert_decide(alert=alert, actor=admin_user, confirm=True)
    token_revoke(record=token_create(user=tester, name="spare", scopes=["read"])[0], actor=tester)
    sign_in_record(user=tester, ip="198.51.100.7")
    export_create(user=tester, ip="198.51.100.7")

    events = AuditEvent.objects.filter(action__startswith="access.")
    actions = set(events.values_list("action", flat=True))
    assert {
        "access.token_created",
        "access.token_rotated",
        "access.token_revoked",
        "access.leak_alert",
        "access.leak_confirmed",
        "access.signed_in",
        "access.data_exported",
    } <= actions
    assert [event.action for event in events if event.programme_id != programme.pk] == []
    page = _page(admin_user, "/manage/alpha/audit/")
    for action in ("access.token_created", "access.leak_confirmed", "access.signed_in", "access.data_exported"):
        assert action in page


def test_an_event_about_someone_in_no_programme_is_kept_for_the_operator(outsider):
    token_create(user=outsider, name="laptop", scopes=["read"])
    [event] = AuditEvent.objects.filter(action="access.token_created")
    assert event.programme is None and event.subject == outsider
