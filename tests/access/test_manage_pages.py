"""The programme admin pages under /manage/: only the programme's admins see them (everyone else gets
404, anonymous visitors are sent to sign in), every change goes through the services with the admin as
actor and lands in the audit trail, and bad input is answered with 400 and the error, changing nothing."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.admin.sites import site as admin_site
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from access.audit import audit
from access.context_processors import navigation
from access.invitations import invitation_revoke, invitations_create
from access.models import AuditEvent, Grant, Invitation, Role, Suspension
from access.policy import may_use_site
from access.programmes import cohort_create, programme_create
from access.suspensions import pause, suspend
from tests.conftest import member, with_totp
from tests.factories import RenderJobFactory, UserFactory

pytestmark = pytest.mark.django_db


def _local(moment) -> str:
    """A time as a datetime-local input sends it."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _past() -> str:
    return _local(timezone.now() - timedelta(hours=1))


def _future() -> str:
    return _local(timezone.now() + timedelta(days=3))


def _sign_in(client, user):
    """Sign in with an authenticator set up: staff pages ask everyone without one to set it up first
    (access.middleware.StaffMfaMiddleware), and these tests are about what the pages themselves allow."""
    if not user.authenticator_set.exists():
        with_totp(user)
    client.force_login(user)


@pytest.fixture
def tester2_suspension(tester2, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        suspension = suspend(
            programme=tester2.memberships.get().programme,
            user=tester2,
            reason="Shared a clip outside the programme",
            actor=admin_user,
        )
    mail.outbox.clear()
    return suspension


@pytest.fixture
def invitation(cohort, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        made, _ = invitations_create(
            programme=cohort.programme, cohort=cohort, role=Role.ARTIST, emails=["new@example.org"], actor=admin_user
        )
    mail.outbox.clear()
    return made[0]


@pytest.fixture
def beta():
    """A second programme with its own admin and tester."""
    programme = programme_create(name="Beta")
    beta_cohort = cohort_create(programme=programme, name="Beta wave")
    member("beta-admin@example.org", programme=programme, role=Role.ADMIN)
    member("beta-tester@example.org", programme=programme, role=Role.ARTIST, cohort=beta_cohort)
    return programme


def _pages(programme, cohort, tester, suspension):
    slug = programme.slug
    return {
        "index": reverse("access:manage_index"),
        "dashboard": reverse("access_manage:programme", args=[slug]),
        "invitations": reverse("access_manage:invitations", args=[slug]),
        "person": reverse("access_manage:person", args=[slug, tester.pk]),
        "cohort": reverse("access_manage:cohort", args=[slug, cohort.slug]),
        "lift": reverse("access_manage:lift", args=[slug, suspension.pk]),
        "audit": reverse("access_manage:audit", args=[slug]),
        "audit export": reverse("access_manage:audit_export", args=[slug]),
    }


PAGE_NAMES = ["index", "dashboard", "invitations", "person", "cohort", "lift", "audit", "audit export"]


@pytest.fixture
def pages(programme, cohort, tester, reviewer, tester2_suspension):
    return _pages(programme, cohort, tester, tester2_suspension)


def _posts(programme, cohort, tester, suspension, invitation):
    slug = programme.slug
    return {
        "pause": (reverse("access_manage:pause", args=[slug]), {"reason": "Model update"}),
        "resume": (reverse("access_manage:resume", args=[slug]), {"reason": "Done"}),
        "lift": (reverse("access_manage:lift", args=[slug, suspension.pk]), {"reason": "Sorted out"}),
        "invite": (
            reverse("access_manage:invitations", args=[slug]),
            {"cohort": cohort.pk, "role": Role.ARTIST, "addresses": "x@example.org", "days": 14},
        ),
        "resend": (reverse("access_manage:invitation_resend", args=[slug, invitation.pk]), {}),
        "revoke": (reverse("access_manage:invitation_revoke", args=[slug, invitation.pk]), {}),
        "grant": (
            reverse("access_manage:person_grant", args=[slug, tester.pk]),
            _grant_data(tester.grants.get(), max_frames=9, reason="x"),
        ),
        "suspend person": (
            reverse("access_manage:person_suspend", args=[slug, tester.pk]),
            {"kind": "suspension", "reason": "x"},
        ),
        "suspend cohort": (
            reverse("access_manage:cohort_suspend", args=[slug, cohort.slug]),
            {"kind": "suspension", "reason": "x"},
        ),
    }


POST_NAMES = ["pause", "resume", "lift", "invite", "resend", "revoke", "grant", "suspend person", "suspend cohort"]


@pytest.fixture
def posts(programme, cohort, tester, reviewer, tester2_suspension, invitation):
    return _posts(programme, cohort, tester, tester2_suspension, invitation)


def _grant_data(grant: Grant, **changes) -> dict:
    """The grant form as the person page fills it in, with ``changes``."""
    values = {field: getattr(grant, field) for field in (*Grant.LIMIT_FIELDS, "starts_at", "ends_at")}
    values |= {"reason": ""} | changes
    data = {}
    for field, value in values.items():
        if field == "downloads_allowed":
            if value:
                data[field] = "on"
        elif field == "model_keys":
            data[field] = list(value)
        elif field in ("starts_at", "ends_at") and not isinstance(value, str):
            data[field] = _local(value) if value else ""
        else:
            data[field] = value
    return data


def _state():
    """What a refused or bad request must leave as it was."""
    return (
        AuditEvent.objects.count(),
        list(Suspension.objects.values_list("pk", "lifted_at")),
        list(Invitation.objects.values_list("pk", "token_digest", "revoked_at", "send_count")),
        list(Grant.objects.values("pk", *Grant.LIMIT_FIELDS, "starts_at", "ends_at")),
    )


# --- Who may see the pages -----------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_an_admin_sees_every_page(admin_client, pages, page):
    assert admin_client.get(pages[page]).status_code == 200


@pytest.mark.parametrize("who", ["tester", "reviewer", "outsider"])
@pytest.mark.parametrize("page", PAGE_NAMES)
def test_everyone_but_an_admin_gets_404(client, request, pages, page, who):
    _sign_in(client, request.getfixturevalue(who))
    assert client.get(pages[page]).status_code == 404


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_anonymous_visitors_are_sent_to_sign_in(client, pages, page):
    response = client.get(pages[page])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("page", [name for name in PAGE_NAMES if name != "index"])
def test_an_admin_of_another_programme_gets_404(client, pages, beta, page):
    _sign_in(client, beta.memberships.get(role=Role.ADMIN).user)
    assert client.get(pages[page]).status_code == 404


def test_an_unknown_programme_is_a_404_like_any_other(admin_client):
    assert admin_client.get(reverse("access_manage:programme", args=["no-such-thing"])).status_code == 404


@pytest.mark.parametrize("who", ["tester", "reviewer", "outsider", "beta admin"])
@pytest.mark.parametrize("action", POST_NAMES)
def test_everyone_but_an_admin_is_refused_every_change(
    client, request, posts, beta, action, who, django_capture_on_commit_callbacks
):
    user = beta.memberships.get(role=Role.ADMIN).user if who == "beta admin" else request.getfixturevalue(who)
    _sign_in(client, user)
    url, data = posts[action]
    before = _state()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url, data)
    assert response.status_code == 404
    assert _state() == before and not callbacks and not mail.outbox


@pytest.mark.parametrize("action", POST_NAMES)
def test_anonymous_changes_are_sent_to_sign_in(client, posts, action):
    url, data = posts[action]
    before = _state()
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert _state() == before


def test_the_index_lists_only_the_programmes_one_administers(client, admin_user, programme, beta):
    client.force_login(admin_user)
    page = client.get(reverse("access:manage_index")).content.decode()
    assert reverse("access_manage:programme", args=["alpha"]) in page
    assert "Beta" not in page


def test_a_superuser_manages_every_programme(client, programme, beta):
    _sign_in(client, UserFactory(email="root@example.org", is_superuser=True, is_staff=True))
    page = client.get(reverse("access:manage_index")).content.decode()
    assert "Alpha" in page and "Beta" in page
    assert client.get(reverse("access_manage:programme", args=["beta"])).status_code == 200


def test_the_manage_link_shows_only_to_programme_admins(client, admin_user, tester):
    client.force_login(tester)
    assert 'href="/manage/"' not in client.get(reverse("generation:job_list")).content.decode()
    client.force_login(admin_user)
    assert 'href="/manage/"' in client.get(reverse("generation:job_list")).content.decode()


def test_the_manage_link_costs_nothing_once_the_standing_is_kept(rf, admin_user, django_assert_num_queries):
    request = rf.get("/")
    request.user = admin_user
    with django_assert_num_queries(0):
        flag = navigation(request)["manages_programmes"]
    assert flag  # reads the standing and keeps it
    request = rf.get("/")
    request.user = admin_user
    with django_assert_num_queries(0):
        assert navigation(request)["manages_programmes"]


# --- The dashboard, pause and resume -------------------------------------------------------------


def test_the_dashboard_shows_cohorts_people_usage_and_suspensions(admin_client, tester, reviewer, tester2_suspension):
    RenderJobFactory(owner=tester, grant=tester.grants.get(), state="succeeded", charged_seconds=42.4)

    page = admin_client.get(reverse("access_manage:programme", args=["alpha"])).content.decode()

    assert "Wave 1" in page and "257 frames" in page
    assert "tester@example.org" in page and "Tess Tester" in page and "Artist" in page and "Reviewer" in page
    assert "today 42 / 100000" in page and "total 42 / 1000000" in page
    assert "Your access has been suspended: Shared a clip outside the programme" in page
    assert reverse("access_manage:lift", args=["alpha", tester2_suspension.pk]) in page
    assert reverse("access_manage:pause", args=["alpha"]) in page


def test_pausing_and_resuming_the_programme(admin_client, admin_user, tester, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("access_manage:pause", args=["alpha"]), {"reason": "Swapping the model", "ends_at": _future()}
        )

    assert response.status_code == 302
    pause = Suspension.objects.get()
    assert (pause.scope, pause.kind, pause.reason, pause.created_by) == (
        "programme",
        "pause",
        "Swapping the model",
        admin_user,
    )
    assert not may_use_site(tester)
    event = AuditEvent.objects.get(action="access.pause_started")
    assert (event.actor, event.reason, event.ip) == (admin_user, "Swapping the model", "127.0.0.1")
    assert [message.to for message in mail.outbox] == [[tester.email]]
    page = admin_client.get(response["Location"]).content.decode()
    assert "Alpha is paused" in page and reverse("access_manage:resume", args=["alpha"]) in page

    response = admin_client.post(reverse("access_manage:resume", args=["alpha"]), {"reason": "New model is in"})

    assert response.status_code == 302
    pause.refresh_from_db()
    assert pause.lifted_by == admin_user and pause.lift_reason == "New model is in"
    assert may_use_site(tester)
    assert AuditEvent.objects.get(action="access.pause_lifted").actor == admin_user


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": ""}, "Say why"),
        ({"reason": "   "}, "Say why"),
        ({"reason": "Swapping", "ends_at": "PAST"}, "The end time must be in the future."),
        ({"reason": "Swapping", "ends_at": "next week"}, "Enter a valid date/time."),
    ],
)
def test_a_bad_pause_is_refused_and_changes_nothing(
    admin_client, tester, data, message, django_capture_on_commit_callbacks
):
    data = {key: _past() if value == "PAST" else value for key, value in data.items()}
    before = _state()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(reverse("access_manage:pause", args=["alpha"]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _state() == before and not callbacks and not mail.outbox
    assert may_use_site(tester)


def test_resuming_a_programme_that_is_not_paused_is_refused(admin_client):
    before = _state()
    response = admin_client.post(reverse("access_manage:resume", args=["alpha"]), {"reason": "Go"})
    assert response.status_code == 400 and "Alpha is not paused." in response.content.decode()
    assert _state() == before


# --- Lifting -------------------------------------------------------------------------------------


def test_lifting_a_suspension(
    admin_client, admin_user, tester2, tester2_suspension, django_capture_on_commit_callbacks
):
    person_page = reverse("access_manage:person", args=["alpha", tester2.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("access_manage:lift", args=["alpha", tester2_suspension.pk]),
            {"reason": "Apologised", "next": person_page},
        )

    assert response.status_code == 302 and response["Location"] == person_page
    tester2_suspension.refresh_from_db()
    assert tester2_suspension.lifted_by == admin_user and tester2_suspension.lift_reason == "Apologised"
    assert may_use_site(tester2)
    event = AuditEvent.objects.get(action="access.suspension_lifted")
    assert (event.actor, event.subject, event.reason) == (admin_user, tester2, "Apologised")
    assert [message.to for message in mail.outbox] == [[tester2.email]]


def test_lifting_goes_back_to_the_dashboard_rather_than_another_site(admin_client, tester2_suspension):
    response = admin_client.post(
        reverse("access_manage:lift", args=["alpha", tester2_suspension.pk]),
        {"reason": "Apologised", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("access_manage:programme", args=["alpha"])


def test_lifting_needs_a_reason(admin_client, tester2, tester2_suspension):
    before = _state()
    response = admin_client.post(reverse("access_manage:lift", args=["alpha", tester2_suspension.pk]), {"reason": ""})
    assert response.status_code == 400 and "Say why" in response.content.decode()
    assert _state() == before and not may_use_site(tester2)


def test_lifting_twice_is_refused(admin_client, tester2_suspension):
    url = reverse("access_manage:lift", args=["alpha", tester2_suspension.pk])
    admin_client.post(url, {"reason": "Apologised"})
    before = _state()
    response = admin_client.post(url, {"reason": "Again"})
    assert response.status_code == 400 and "This has already been lifted." in response.content.decode()
    assert _state() == before


def test_a_suspension_of_another_programme_is_a_404(admin_client, beta):
    other = pause(programme=beta, reason="Beta is paused")
    response = admin_client.post(reverse("access_manage:lift", args=["alpha", other.pk]), {"reason": "x"})
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.lifted_at is None


# --- Invitations ---------------------------------------------------------------------------------


def _invite(client, capture, **data):
    data = {"role": Role.ARTIST, "days": 14, "addresses": ""} | data
    with capture(execute=True):
        return client.post(reverse("access_manage:invitations", args=["alpha"]), data)


def test_inviting_pasted_addresses(admin_client, admin_user, cohort, tester, django_capture_on_commit_callbacks):
    response = _invite(
        admin_client,
        django_capture_on_commit_callbacks,
        cohort=cohort.pk,
        days=7,
        addresses="Ann@Example.org, bo@example.org\nnot an address\nann@example.org; tester@example.org\n"
        "Cy <cy@example.org>",
    )

    assert response.status_code == 302
    invitations = Invitation.objects.order_by("email")
    assert [(i.email, i.cohort, i.role, i.invited_by) for i in invitations] == [
        ("ann@example.org", cohort, "artist", admin_user),
        ("bo@example.org", cohort, "artist", admin_user),
        ("cy@example.org", cohort, "artist", admin_user),
    ]
    assert invitations[0].expires_at - timezone.now() > timedelta(days=6)
    assert sorted(message.to[0] for message in mail.outbox) == ["ann@example.org", "bo@example.org", "cy@example.org"]
    events = AuditEvent.objects.filter(action="access.invitation_sent")
    assert events.count() == 3 and {event.actor for event in events} == {admin_user}
    page = admin_client.get(response["Location"]).content.decode()
    assert "Invited 3, skipped 3" in page
    assert "not an address — not a valid email address" in page
    assert "ann@example.org — listed twice" in page
    assert "tester@example.org — already a member with this role" in page
    # The result is shown once.
    assert "Invited 3" not in admin_client.get(response["Location"]).content.decode()


def test_inviting_from_a_csv_file(admin_client, cohort, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile(
        "people.csv",
        b'\xef\xbb\xbfname,email,notes\nAnn,ann@example.org,\nBo,"Bo Smith <bo@example.org>","likes, commas"\n',
        content_type="text/csv",
    )
    response = _invite(admin_client, django_capture_on_commit_callbacks, cohort=cohort.pk, csv_file=upload)

    assert response.status_code == 302
    assert sorted(Invitation.objects.values_list("email", flat=True)) == ["ann@example.org", "bo@example.org"]
    assert len(mail.outbox) == 2


def test_a_csv_file_is_judged_by_its_content_not_its_declared_type(
    admin_client, cohort, django_capture_on_commit_callbacks
):
    # Browsers on Windows send .csv files as application/vnd.ms-excel; the bytes decide.
    upload = SimpleUploadedFile("export.xls", b"ann@example.org\n", content_type="application/vnd.ms-excel")
    response = _invite(admin_client, django_capture_on_commit_callbacks, cohort=cohort.pk, csv_file=upload)

    assert response.status_code == 302
    assert list(Invitation.objects.values_list("email", flat=True)) == ["ann@example.org"]


def test_a_reviewer_is_invited_without_a_cohort(admin_client, django_capture_on_commit_callbacks):
    response = _invite(
        admin_client, django_capture_on_commit_callbacks, role=Role.REVIEWER, addresses="rev@example.org"
    )
    assert response.status_code == 302
    assert Invitation.objects.get().cohort is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cohort": 999_999, "addresses": "x@example.org"}, "Select a valid choice"),
        ({"cohort": "COHORT", "addresses": ""}, "Paste at least one address"),
        ({"addresses": "x@example.org"}, "Choose the cohort that testers join."),
        ({"cohort": "COHORT", "addresses": "x@example.org", "days": 0}, "greater than or equal to 1"),
        ({"cohort": "COHORT", "addresses": "x@example.org", "role": "overlord"}, "Select a valid choice"),
        ({"cohort": "COHORT", "csv_file": "BIG"}, "upload a file of at most 1 MB"),
        ({"cohort": "COHORT", "csv_file": "PNG"}, "photo.png is not a CSV file: it is not UTF-8 text"),
        ({"cohort": "COHORT", "csv_file": "BINARY"}, "is not UTF-8 text"),
        ({"cohort": "COHORT", "csv_file": "PNG_AS_CSV"}, "list.csv is not a CSV file: it is not UTF-8 text"),
    ],
)
def test_bad_invitations_are_refused_and_change_nothing(
    admin_client, cohort, data, message, django_capture_on_commit_callbacks
):
    uploads = {
        "BIG": SimpleUploadedFile("big.csv", b"x@example.org\n" + b"a" * 1024 * 1024, content_type="text/csv"),
        "PNG": SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n", content_type="image/png"),
        "BINARY": SimpleUploadedFile("list.csv", b"\xff\xfe\x00x\x00@", content_type="text/csv"),
        "PNG_AS_CSV": SimpleUploadedFile("list.csv", b"\x89PNG\r\n\x1a\nx@example.org", content_type="text/csv"),
    }
    data = {key: cohort.pk if value == "COHORT" else uploads.get(value, value) for key, value in data.items()}
    before = _state()

    response = _invite(admin_client, django_capture_on_commit_callbacks, **data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert _state() == before and not mail.outbox


def test_a_cohort_of_another_programme_cannot_be_chosen(admin_client, beta, django_capture_on_commit_callbacks):
    response = _invite(
        admin_client, django_capture_on_commit_callbacks, cohort=beta.cohorts.get().pk, addresses="x@example.org"
    )
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not Invitation.objects.exists()


def test_the_invitations_page_lists_every_state(admin_client, admin_user, cohort, tester, invitation):
    made, _ = invitations_create(
        programme=cohort.programme,
        cohort=cohort,
        role=Role.ARTIST,
        actor=admin_user,
        emails=["gone@example.org", "late@example.org"],
    )
    invitation_revoke(invitation=made[0])
    Invitation.objects.filter(pk=made[1].pk).update(expires_at=timezone.now() - timedelta(days=1))
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now(), accepted_by=tester)
    invitations_create(programme=cohort.programme, cohort=cohort, role=Role.ARTIST, emails=["open@example.org"])

    page = admin_client.get(reverse("access_manage:invitations", args=["alpha"])).content.decode()

    for state in ("sent", "accepted", "expired", "revoked"):
        assert f'data-state="{state}"' in page
    open_invitation = Invitation.objects.get(email="open@example.org")
    assert reverse("access_manage:invitation_revoke", args=["alpha", open_invitation.pk]) in page
    assert reverse("access_manage:invitation_resend", args=["alpha", made[1].pk]) in page  # expired: resend
    assert reverse("access_manage:invitation_revoke", args=["alpha", made[1].pk]) not in page
    assert reverse("access_manage:invitation_resend", args=["alpha", invitation.pk]) not in page  # accepted


def test_resending_an_invitation(admin_client, admin_user, invitation, django_capture_on_commit_callbacks):
    old_digest = invitation.token_digest
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("access_manage:invitation_resend", args=["alpha", invitation.pk]))

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.token_digest != old_digest and invitation.send_count == 2
    assert [message.to for message in mail.outbox] == [["new@example.org"]]
    assert AuditEvent.objects.get(action="access.invitation_resent").actor == admin_user


def test_revoking_an_invitation(admin_client, admin_user, invitation):
    response = admin_client.post(reverse("access_manage:invitation_revoke", args=["alpha", invitation.pk]))

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.REVOKED
    event = AuditEvent.objects.get(action="access.invitation_revoked")
    assert (event.actor, event.target) == (admin_user, "new@example.org")


@pytest.mark.parametrize(
    ("action", "message"),
    [("revoke", "only open invitations can be revoked"), ("resend", "This invitation was revoked; it cannot be")],
)
def test_a_revoked_invitation_cannot_be_revoked_or_resent(
    admin_client, invitation, action, message, django_capture_on_commit_callbacks
):
    invitation_revoke(invitation=invitation)
    before = _state()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse(f"access_manage:invitation_{action}", args=["alpha", invitation.pk]))
    assert response.status_code == 400 and message in response.content.decode()
    assert _state() == before and not mail.outbox


def test_an_invitation_of_another_programme_is_a_404(admin_client, beta):
    other, _ = invitations_create(programme=beta, cohort=None, role=Role.REVIEWER, emails=["b@example.org"])
    response = admin_client.post(reverse("access_manage:invitation_revoke", args=["alpha", other[0].pk]))
    assert response.status_code == 404
    other[0].refresh_from_db()
    assert other[0].revoked_at is None


# --- One person ----------------------------------------------------------------------------------


def test_the_person_page_shows_roles_grant_and_history(admin_client, tester2, tester2_suspension):
    page = admin_client.get(reverse("access_manage:person", args=["alpha", tester2.pk])).content.decode()
    assert "tester2@example.org" in page and "Artist" in page and "Wave 1" in page
    assert 'name="gpu_seconds_per_day" value="100000"' in page
    assert "Shared a clip outside the programme" in page and "In force" in page


def test_someone_outside_the_programme_has_no_person_page(admin_client, outsider, beta):
    beta_tester = beta.memberships.get(role=Role.ARTIST).user
    for user in (outsider, beta_tester):
        assert admin_client.get(reverse("access_manage:person", args=["alpha", user.pk])).status_code == 404
        response = admin_client.post(
            reverse("access_manage:person_suspend", args=["alpha", user.pk]), {"kind": "suspension", "reason": "x"}
        )
        assert response.status_code == 404
    assert not Suspension.objects.exists()


def test_editing_a_grant(admin_client, admin_user, tester):
    grant = tester.grants.get()
    data = _grant_data(
        grant, gpu_seconds_per_day=500, downloads_allowed=False, model_keys=["ltx-video"], reason="Budget cut"
    )
    response = admin_client.post(reverse("access_manage:person_grant", args=["alpha", tester.pk]), data)

    assert response.status_code == 302
    grant.refresh_from_db()
    assert (grant.gpu_seconds_per_day, grant.downloads_allowed, grant.model_keys) == (500, False, ["ltx-video"])
    event = AuditEvent.objects.get(action="access.grant_changed")
    assert (event.actor, event.subject, event.reason, event.ip) == (admin_user, tester, "Budget cut", "127.0.0.1")
    assert event.data["after"] == {"gpu_seconds_per_day": 500, "downloads_allowed": False, "model_keys": ["ltx-video"]}
    assert event.data["before"]["gpu_seconds_per_day"] == 100_000


def test_saving_an_unchanged_grant_records_nothing(admin_client, tester):
    before = _state()
    response = admin_client.post(
        reverse("access_manage:person_grant", args=["alpha", tester.pk]), _grant_data(tester.grants.get(), reason="x")
    )
    assert response.status_code == 302
    assert _state() == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_frames": -1, "reason": "x"}, "Ensure this value is greater than or equal to 0."),
        ({"gpu_seconds_total": "lots", "reason": "x"}, "Enter a whole number."),
        ({"gpu_seconds_per_day": 5}, "Say why"),
        ({"ends_at": "PAST", "reason": "x"}, "A grant must end after it starts."),
        ({"starts_at": "", "reason": "x"}, "This field is required."),
        ({"model_keys": ["sora"], "reason": "x"}, "Select a valid choice. sora is not one of the available choices."),
    ],
)
def test_bad_grant_changes_are_refused_and_change_nothing(admin_client, tester, changes, message):
    grant = tester.grants.get()
    if changes.get("ends_at") == "PAST":
        changes["ends_at"] = _local(grant.starts_at - timedelta(days=1))
    before = _state()
    response = admin_client.post(
        reverse("access_manage:person_grant", args=["alpha", tester.pk]), _grant_data(grant, **changes)
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _state() == before


def test_a_person_without_a_grant_has_no_grant_form(admin_client, reviewer):
    page = admin_client.get(reverse("access_manage:person", args=["alpha", reviewer.pk])).content.decode()
    assert "No grant in this programme" in page
    response = admin_client.post(reverse("access_manage:person_grant", args=["alpha", reviewer.pk]), {"reason": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize(("kind", "until"), [("suspension", None), ("suspension", "FUTURE"), ("revocation", None)])
def test_suspending_a_person(
    admin_client, admin_user, tester, tester2, kind, until, django_capture_on_commit_callbacks
):
    data = {"kind": kind, "reason": "Posted a clip publicly", "ends_at": _future() if until else ""}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("access_manage:person_suspend", args=["alpha", tester.pk]), data)

    assert response.status_code == 302
    suspension = Suspension.objects.get()
    assert (suspension.scope, suspension.kind, suspension.user, suspension.created_by) == (
        "person",
        kind,
        tester,
        admin_user,
    )
    assert (suspension.ends_at is not None) == bool(until)
    assert not may_use_site(tester) and may_use_site(tester2)
    event = AuditEvent.objects.get(action=f"access.{kind}_started")
    assert (event.actor, event.subject, event.reason) == (admin_user, tester, "Posted a clip publicly")
    assert [message.to for message in mail.outbox] == [[tester.email]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "suspension", "reason": ""}, "Say why"),
        ({"kind": "suspension", "reason": "x", "ends_at": "PAST"}, "The end time must be in the future."),
        ({"kind": "revocation", "reason": "x", "ends_at": "FUTURE"}, "A revocation has no end time; suspend instead."),
        ({"kind": "banishment", "reason": "x"}, "Select a valid choice."),
    ],
)
def test_bad_suspensions_of_a_person_are_refused_and_change_nothing(
    admin_client, tester, data, message, django_capture_on_commit_callbacks
):
    data = data | {"ends_at": {"PAST": _past(), "FUTURE": _future()}.get(data.get("ends_at"), "")}
    before = _state()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(reverse("access_manage:person_suspend", args=["alpha", tester.pk]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _state() == before and not callbacks and not mail.outbox
    assert may_use_site(tester)


def test_an_admin_cannot_suspend_themselves(admin_client, admin_user):
    before = _state()
    response = admin_client.post(
        reverse("access_manage:person_suspend", args=["alpha", admin_user.pk]), {"kind": "suspension", "reason": "x"}
    )
    assert response.status_code == 400 and "You cannot suspend yourself" in response.content.decode()
    assert _state() == before


# --- Cohorts -------------------------------------------------------------------------------------


def test_the_cohort_page_lists_its_members(admin_client, cohort, tester, tester2, red_teamer):
    page = admin_client.get(reverse("access_manage:cohort", args=["alpha", cohort.slug])).content.decode()
    assert "tester@example.org" in page and "tester2@example.org" in page
    assert "redteam@example.org" not in page


def test_suspending_a_cohort(
    admin_client, admin_user, cohort, tester, tester2, red_teamer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("access_manage:cohort_suspend", args=["alpha", cohort.slug]),
            {"kind": "suspension", "reason": "Leak under investigation", "ends_at": _future()},
        )

    assert response.status_code == 302
    suspension = Suspension.objects.get()
    assert (suspension.scope, suspension.cohort, suspension.created_by) == ("cohort", cohort, admin_user)
    assert not may_use_site(tester) and not may_use_site(tester2) and may_use_site(red_teamer)
    event = AuditEvent.objects.get(action="access.suspension_started")
    assert (event.actor, event.reason, event.data["affected"]) == (admin_user, "Leak under investigation", 2)
    assert sorted(message.to[0] for message in mail.outbox) == sorted([tester.email, tester2.email])
    page = admin_client.get(response["Location"]).content.decode()
    assert "Leak under investigation" in page and "In force" in page


def test_revoking_a_cohort(admin_client, cohort, tester):
    response = admin_client.post(
        reverse("access_manage:cohort_suspend", args=["alpha", cohort.slug]), {"kind": "revocation", "reason": "Over"}
    )
    assert response.status_code == 302
    assert Suspension.objects.get().kind == "revocation"
    assert not may_use_site(tester)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "suspension", "reason": ""}, "Say why"),
        ({"kind": "suspension", "reason": "x", "ends_at": "PAST"}, "The end time must be in the future."),
    ],
)
def test_bad_cohort_suspensions_are_refused_and_change_nothing(
    admin_client, cohort, tester, data, message, django_capture_on_commit_callbacks
):
    data = data | {"ends_at": _past() if data.get("ends_at") == "PAST" else ""}
    before = _state()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(reverse("access_manage:cohort_suspend", args=["alpha", cohort.slug]), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert _state() == before and not callbacks and not mail.outbox
    assert may_use_site(tester)


def test_an_unknown_cohort_is_a_404(admin_client, beta):
    assert admin_client.get(reverse("access_manage:cohort", args=["alpha", "beta-wave"])).status_code == 404
    response = admin_client.post(
        reverse("access_manage:cohort_suspend", args=["alpha", "beta-wave"]), {"kind": "suspension", "reason": "x"}
    )
    assert response.status_code == 404
    assert not Suspension.objects.exists()


# --- The audit trail -----------------------------------------------------------------------------


@pytest.fixture
def events(programme, admin_user, tester, tester2_suspension, invitation, beta):
    """The fixtures' own events, plus an old one and one in another programme."""
    audit("access.note", actor=admin_user, programme=programme, target="a note", reason="=HYPERLINK(1)")
    AuditEvent.objects.create(
        action="access.older_event", programme=programme, target="older", at=timezone.now() - timedelta(days=40)
    )
    audit("access.beta_event", programme=beta, target="tester2@example.org")


def _export(client, **query) -> list[dict]:
    response = client.get(reverse("access_manage:audit_export", args=["alpha"]), query)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="alpha-audit-')
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _audit_rows(client, **query) -> str:
    """The table of events on the audit page (the action filter's menu names every action)."""
    response = client.get(reverse("access_manage:audit", args=["alpha"]), query)
    assert response.status_code == 200
    return response.content.decode().split('<table class="data audit">', 1)[1]


def test_the_audit_trail_lists_the_programmes_events(admin_client, events):
    page = _audit_rows(admin_client)
    assert "access.suspension_started" in page and "access.invitation_sent" in page and "access.older_event" in page
    assert "access.beta_event" not in page


def test_the_audit_trail_filters_by_action(admin_client, events):
    page = admin_client.get(reverse("access_manage:audit", args=["alpha"]), {"action": "access.invitation_sent"})
    assert "1 event." in page.content.decode()
    rows = _audit_rows(admin_client, action="access.invitation_sent")
    assert "new@example.org" in rows and "Shared a clip outside" not in rows


def test_the_audit_trail_filters_by_person_and_date(admin_client, tester2, events):
    rows = _audit_rows(admin_client, person="TESTER2@")
    assert "access.suspension_started" in rows and "access.invitation_sent" not in rows

    rows = _audit_rows(admin_client, date_to=(timezone.localdate() - timedelta(days=40)).isoformat())
    assert "access.older_event" in rows and "access.suspension_started" not in rows
    rows = _audit_rows(admin_client, date_from=timezone.localdate().isoformat())
    assert "access.older_event" not in rows and "access.suspension_started" in rows


def test_a_bad_filter_is_answered_with_its_error(admin_client, events):
    for url in (reverse("access_manage:audit", args=["alpha"]), reverse("access_manage:audit_export", args=["alpha"])):
        response = admin_client.get(url, {"date_from": "last tuesday"})
        assert response.status_code == 400 and "Enter a valid date." in response.content.decode()


def test_the_csv_export_holds_the_filtered_rows_only(admin_client, admin_user, tester2, events):
    everything = _export(admin_client)
    assert len(everything) == AuditEvent.objects.filter(programme__slug="alpha").count()
    assert "access.beta_event" not in {row["action"] for row in everything}

    rows = _export(admin_client, action="access.suspension_started")
    assert len(rows) == 1
    assert rows[0]["actor"] == admin_user.email and rows[0]["subject"] == tester2.email
    assert rows[0]["reason"] == "Shared a clip outside the programme"

    rows = _export(admin_client, person="tester2")
    assert {row["action"] for row in rows} == {
        "access.membership_added",
        "access.grant_created",
        "access.suspension_started",
    }


def test_the_csv_export_defuses_spreadsheet_formulas(admin_client, events):
    rows = _export(admin_client, action="access.note")
    assert rows[0]["reason"] == "'=HYPERLINK(1)"


def test_the_audit_trail_is_paginated_keeping_the_filter(admin_client, admin_user, programme):
    for number in range(60):
        audit("access.bulk", actor=admin_user, programme=programme, target=f"row {number}")
    response = admin_client.get(reverse("access_manage:audit", args=["alpha"]), {"action": "access.bulk"})
    page = response.content.decode()
    assert "Page 1 of 2" in page and "action=access.bulk&amp;page=2" in page
    page2 = admin_client.get(reverse("access_manage:audit", args=["alpha"]), {"action": "access.bulk", "page": 2})
    assert "Page 2 of 2" in page2.content.decode()


def test_no_page_offers_to_edit_the_audit_trail(admin_client, events):
    before = AuditEvent.objects.count()
    for method in (admin_client.post, admin_client.delete, admin_client.put):
        assert method(reverse("access_manage:audit", args=["alpha"])).status_code == 405
    assert AuditEvent.objects.count() == before


# --- The Django admin ----------------------------------------------------------------------------


def test_every_access_model_is_in_the_django_admin(client, events):
    _sign_in(client, UserFactory(email="root@example.org", is_superuser=True, is_staff=True))
    for model in ("user", "programme", "cohort", "membership", "invitation", "grant", "suspension", "auditevent"):
        assert client.get(reverse(f"admin:access_{model}_changelist")).status_code == 200, model
    event = AuditEvent.objects.first()
    assert client.get(reverse("admin:access_auditevent_change", args=[event.pk])).status_code == 200
    invitation = Invitation.objects.first()
    page = client.get(reverse("admin:access_invitation_change", args=[invitation.pk])).content.decode()
    assert invitation.token_digest in page and 'name="token_digest"' not in page


def test_nobody_adds_changes_or_deletes_audit_events_in_the_django_admin(client, events):
    root = UserFactory(email="root@example.org", is_superuser=True, is_staff=True)
    request = RequestFactory().get("/admin/")
    request.user = root
    model_admin = admin_site._registry[AuditEvent]
    event = AuditEvent.objects.first()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)

    _sign_in(client, root)
    before = AuditEvent.objects.count()
    assert client.get(reverse("admin:access_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:access_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    response = client.post(reverse("admin:access_auditevent_change", args=[event.pk]), {"action": "forged"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.action != "forged" and AuditEvent.objects.count() == before


@pytest.fixture
def tester_client(tester):
    from django.test import Client

    client = Client()
    client.force_login(tester)
    return client


def test_an_admin_chooses_the_models_a_programme_offers(admin_client, programme, tester, tester_client):
    from access.models import AuditEvent

    url = reverse("access_manage:models", args=[programme.slug])
    response = admin_client.post(url, {"model_keys": ["wan2.1-1.3b", "ltx-video"]})

    assert response.status_code == 302
    programme.refresh_from_db()
    assert programme.model_keys == ["ltx-video", "wan2.1-1.3b"]  # in the registry's order
    event = AuditEvent.objects.get(action="programme.models_changed")
    assert event.data == {"before": [], "after": ["ltx-video", "wan2.1-1.3b"]}
    form = tester_client.get(reverse("generation:job_create")).content.decode()
    assert 'value="wan2.1-1.3b"' in form and 'value="mochi-1"' not in form
    refused = tester_client.post(reverse("generation:job_create"), {"prompt": "a fox", "model_key": "mochi-1"})
    assert refused.status_code == 400


def test_a_job_for_a_model_the_programme_does_not_offer_is_refused_with_the_reason(programme, tester):
    from django.core.exceptions import ValidationError

    from access.programmes import programme_models_set
    from generation.submission import job_create

    programme_models_set(programme=programme, model_keys=["ltx-video"])
    with pytest.raises(ValidationError) as refused:
        job_create(
            owner=tester,
            prompt="a fox",
            model_key="wan2.1-1.3b",
            num_frames=33,
            width=256,
            height=256,
            num_steps=4,
            guidance_scale=5.0,
        )
    assert refused.value.message_dict["model_key"] == ["Alpha does not offer Wan 2.1 1.3B."]


def test_unknown_models_and_other_people_change_nothing(admin_client, tester_client, programme):
    url = reverse("access_manage:models", args=[programme.slug])

    assert admin_client.post(url, {"model_keys": ["sora"]}).status_code == 400
    assert tester_client.post(url, {"model_keys": ["ltx-video"]}).status_code in (403, 404)
    programme.refresh_from_db()
    assert programme.model_keys == []


def test_grant_and_cohort_forms_keep_held_models_and_report_only_real_changes(tester, cohort):
    from access.manage_forms import CohortGrantForm, GrantForm

    grant = tester.grants.get()
    Grant.objects.filter(pk=grant.pk).update(model_keys=["ltx-video", "gone-model"])
    grant.refresh_from_db()
    form = GrantForm(grant=grant)
    assert ("gone-model", "gone-model (not in the registry)") in form.fields["model_keys"].choices
    data = {name: form.initial[name] for name in GrantForm.editable_fields()}
    data |= {"model_keys": ["gone-model", "ltx-video"], "starts_at": grant.starts_at.replace(second=59)}
    data |= {"ends_at": "", "reason": "x", "max_frames": grant.max_frames - 8}
    bound = GrantForm(data, grant=grant)
    assert bound.is_valid(), bound.errors
    assert bound.changes() == {"max_frames": grant.max_frames - 8}

    cohort.model_keys = ["gone-model"]
    cohort.save(update_fields=["model_keys"])
    form = CohortGrantForm(cohort=cohort)
    assert ("gone-model", "gone-model (not offered now)") in form.fields["model_keys"].choices
    data = {name: form.initial[name] for name in CohortGrantForm.LIMIT_NAMES} | {"reason": "x"}
    data |= {"grant_days": data["grant_days"] or "", "max_steps": cohort.max_steps - 1}
    bound = CohortGrantForm(data, cohort=cohort)
    assert bound.is_valid(), bound.errors
    assert bound.changes() == {"max_steps": cohort.max_steps - 1}
