"""The programme console: the operator's staff set up a programme (models, first admin, first published rates) at
/staff/programmes/, its admins create cohorts and edit a cohort's grant under /manage/<slug>/cohorts/; every step
goes through a service and is audited, bad input is a form error that changes nothing, and the Django admin only
shows programmes and cohorts. (Who reaches each page: tests/test_access_matrix.py.)"""

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from access.leaks import alert_raise, session_credential
from access.manage_forms import InvitationForm
from access.models import (
    AuditEvent,
    Cohort,
    ContributionRate,
    Grant,
    Invitation,
    LeakAlert,
    Membership,
    Programme,
    Role,
)
from access.programmes import cohort_create, membership_add, programme_create
from tests.conftest import member, with_totp
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CONSOLE = "/staff/programmes/"


@pytest.fixture
def operator(db):
    return with_totp(UserFactory(email="ops@example.org", is_staff=True, is_superuser=True))


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def _set_up(**changes) -> dict:
    data = {
        "name": "Gamma",
        "slug": "",
        "description": "Second wave of the 2027 model.",
        "model_keys": ["ltx-video", "wan2.1-1.3b"],
        "admin_email": "lead@example.org",
        "currency": "EUR",
        "rate_bug_points": "10",
        "rate_bug_amount": "15.00",
        "rate_feedback_points": "1",
        "rate_feedback_amount": "",
    }
    return {key: value for key, value in (data | changes).items() if value is not None}


def _everything():
    """What a refused set-up must leave as it was."""
    return (
        list(Programme.objects.values_list("pk", "slug")),
        AuditEvent.objects.count(),
        ContributionRate.objects.count(),
        Membership.objects.count(),
        Invitation.objects.count(),
    )


# --- Setting up a programme ----------------------------------------------------------------------------------


def test_staff_set_up_a_programme_with_its_admin_rates_and_audit_events(operator_client, operator):
    lead = UserFactory(email="lead@example.org")

    response = operator_client.post(CONSOLE, _set_up())

    programme = Programme.objects.get(name="Gamma")
    assert response.status_code == 302 and response["Location"] == reverse("access_manage:programme", args=["gamma"])
    assert programme.slug == "gamma" and programme.model_keys == ["ltx-video", "wan2.1-1.3b"]
    assert programme.description == "Second wave of the 2027 model."
    assert Membership.objects.filter(user=lead, programme=programme, role=Role.ADMIN).exists()
    rates = {rate.kind: rate for rate in ContributionRate.objects.filter(programme=programme)}
    assert sorted(rates) == ["bug", "feedback"]
    assert (rates["bug"].points, rates["bug"].amount, rates["bug"].currency) == (10, Decimal("15.00"), "EUR")
    assert (rates["feedback"].points, rates["feedback"].amount) == (1, Decimal("0"))
    assert {rate.published_by for rate in rates.values()} == {operator}
    events = AuditEvent.objects.filter(programme=programme, actor=operator)
    assert sorted(events.values_list("action", flat=True)) == [
        "access.membership_added",
        "access.programme_created",
        "access.rate_published",
        "access.rate_published",
    ]
    assert events.get(action="access.membership_added").subject == lead
    assert not Invitation.objects.exists() and mail.outbox == []
    # The new admin runs it from Manage; the programme's rates page shows what was published.
    page = operator_client.get(response["Location"])
    assert page.status_code == 200 and b"Gamma" in page.content
    assert b"15.00" in operator_client.get(reverse("programmes:rates", args=["gamma"])).content


def test_an_address_with_no_account_is_invited_to_be_the_admin(
    operator_client, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(CONSOLE, _set_up(admin_email="New.Lead@Example.org", slug="g-2027"))

    assert response.status_code == 302
    programme = Programme.objects.get(slug="g-2027")
    invitation = Invitation.objects.get()
    assert (invitation.programme, invitation.email, invitation.role, invitation.cohort) == (
        programme,
        "new.lead@example.org",
        Role.ADMIN,
        None,
    )
    assert [message.to for message in mail.outbox] == [["new.lead@example.org"]]
    assert AuditEvent.objects.filter(action="access.invitation_sent", programme=programme, actor=operator).exists()
    assert b"an invitation to be its admin was sent" in operator_client.get(response["Location"]).content


def test_staff_who_do_not_administer_the_new_programme_go_back_to_the_console(client, programme):
    staff = with_totp(UserFactory(email="desk@example.org", is_staff=True))
    client.force_login(staff)
    response = client.post(CONSOLE, _set_up(admin_email="lead@example.org"))
    assert response.status_code == 302 and response["Location"] == CONSOLE
    page = client.get(CONSOLE).content.decode()
    assert "Gamma" in page and "Alpha" in page  # every programme is listed for the operator's staff


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required"),
        ({"name": "Alpha"}, "name", "There is already a programme called Alpha"),
        ({"name": "alpha"}, "name", "There is already a programme called alpha"),
        ({"slug": "alpha"}, "slug", "The slug &#x27;alpha&#x27; is taken"),
        ({"slug": "Not a slug!"}, "slug", "is not a slug"),
        ({"name": "!!!"}, "slug", "The name gives no usable slug"),
        ({"admin_email": "nobody"}, "admin_email", "Enter a valid email address"),
        ({"model_keys": ["sora"]}, "model_keys", "Select a valid choice"),
        ({"currency": "dollars"}, "currency", "at most 3 characters"),
        ({"currency": "U$D"}, "currency", "three-letter currency code"),
        ({"rate_bug_amount": "-1"}, "rate_bug_amount", "greater than or equal to 0"),
        ({"rate_finding_points": "lots"}, "rate_finding_points", "Enter a whole number"),
        ({"name": "Launch\u202egpj"}, "name", "right-to-left override"),
    ],
)
def test_bad_set_ups_are_refused_and_change_nothing(operator_client, programme, changes, field, message):
    before = _everything()

    response = operator_client.post(CONSOLE, _set_up(**changes))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert field in response.context["form"].errors
    assert _everything() == before and mail.outbox == []


def test_a_step_that_fails_late_undoes_the_whole_set_up(operator_client, programme):
    UserFactory(email="gone@example.org", is_active=False)
    before = _everything()

    response = operator_client.post(CONSOLE, _set_up(admin_email="gone@example.org"))

    assert response.status_code == 400 and "belongs to a deactivated account" in response.content.decode()
    assert _everything() == before, "the programme created before the admin step is gone too"


# --- Cohorts and their grants ------------------------------------------------------------------------------------


def _cohort_data(**changes) -> dict:
    data = {
        "name": "Wave 2",
        "slug": "",
        "model_keys": ["ltx-video"],
        "max_frames": 121,
        "max_width": 768,
        "max_height": 512,
        "max_steps": 40,
        "downloads_allowed": "",
        "gpu_seconds_per_day": 900,
        "gpu_seconds_total": 9000,
        "max_queued_jobs": 2,
        "grant_days": 30,
    }
    return {key: value for key, value in (data | changes).items() if value is not None}


def test_an_admin_creates_a_cohort_with_its_grant(admin_client, admin_user, programme):
    assert admin_client.get(reverse("access_manage:cohort_new", args=["alpha"])).status_code == 200

    response = admin_client.post(reverse("access_manage:cohort_new", args=["alpha"]), _cohort_data())

    cohort = Cohort.objects.get(programme=programme, name="Wave 2")
    assert response.status_code == 302
    assert response["Location"] == reverse("access_manage:cohort", args=["alpha", "wave-2"])
    assert cohort.limits() == {
        "model_keys": ["ltx-video"],
        "max_frames": 121,
        "max_width": 768,
        "max_height": 512,
        "max_steps": 40,
        "downloads_allowed": False,
        "gpu_seconds_per_day": 900,
        "gpu_seconds_total": 9000,
        "max_queued_jobs": 2,
    }
    assert cohort.grant_days == 30
    event = AuditEvent.objects.get(action="access.cohort_created", programme=programme)
    assert event.actor == admin_user and event.data["limits"]["max_width"] == 768 and event.data["grant_days"] == 30


def test_the_blank_cohort_form_is_valid_as_it_stands(admin_client, programme):
    """Its defaults (the model's) pass its own checks: only a name is needed."""
    form = admin_client.get(reverse("access_manage:cohort_new", args=["alpha"])).context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["downloads_allowed"] = "on" if data.pop("downloads_allowed", False) else ""
    response = admin_client.post(reverse("access_manage:cohort_new", args=["alpha"]), data | {"name": "Wave 3"})
    assert response.status_code == 302, response.context["form"].errors
    assert programme.cohorts.filter(name="Wave 3").exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "This field is required"),
        ({"name": "Wave 1"}, "Alpha already has a cohort called Wave 1"),
        ({"slug": "wave-1"}, "Alpha already has a cohort with the slug"),
        ({"max_frames": 0}, "greater than or equal to 1"),
        ({"gpu_seconds_total": -5}, "greater than or equal to 0"),
        ({"grant_days": 0}, "greater than or equal to 1"),
        ({"model_keys": ["sora"]}, "Select a valid choice"),
    ],
)
def test_bad_cohorts_are_refused_and_change_nothing(admin_client, cohort, changes, message):
    before = (list(Cohort.objects.values_list("pk", "name")), AuditEvent.objects.count())
    response = admin_client.post(reverse("access_manage:cohort_new", args=["alpha"]), _cohort_data(**changes))
    assert response.status_code == 400 and message in response.content.decode()
    assert (list(Cohort.objects.values_list("pk", "name")), AuditEvent.objects.count()) == before


def test_a_cohort_offers_only_the_models_its_programme_offers(admin_client, programme):
    programme.model_keys = ["ltx-video"]
    programme.save()
    response = admin_client.post(
        reverse("access_manage:cohort_new", args=["alpha"]), _cohort_data(model_keys=["mochi-1"])
    )
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def _grant_data(cohort, **changes) -> dict:
    data = {name: getattr(cohort, name) for name in (*Cohort.LIMIT_FIELDS, "grant_days")}
    data["downloads_allowed"] = "on" if data["downloads_allowed"] else ""
    data["grant_days"] = data["grant_days"] or ""
    return data | {"reason": "Wave 2 gets longer clips."} | changes


def test_an_admin_edits_a_cohorts_grant_and_new_members_get_it(admin_client, admin_user, cohort, tester):
    page = admin_client.get(reverse("access_manage:cohort", args=["alpha", cohort.slug]))
    assert page.status_code == 200 and b"The cohort's grant" in page.content
    before_tester = Grant.objects.get(user=tester).limits()

    response = admin_client.post(
        reverse("access_manage:cohort_grant", args=["alpha", cohort.slug]),
        _grant_data(cohort, max_frames=300, gpu_seconds_per_day=50, grant_days=10),
    )

    assert response.status_code == 302
    cohort.refresh_from_db()
    assert (cohort.max_frames, cohort.gpu_seconds_per_day, cohort.grant_days) == (300, 50, 10)
    event = AuditEvent.objects.get(action="access.cohort_grant_changed")
    assert event.actor == admin_user and event.reason == "Wave 2 gets longer clips."
    assert event.data == {
        "before": {"max_frames": 257, "gpu_seconds_per_day": 100_000, "grant_days": None},
        "after": {"max_frames": 300, "gpu_seconds_per_day": 50, "grant_days": 10},
    }
    assert Grant.objects.get(user=tester).limits() == before_tester, "members' own grants are not touched"
    newcomer = member("new@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    grant = Grant.objects.get(user=newcomer)
    assert (grant.max_frames, grant.gpu_seconds_per_day) == (300, 50) and grant.ends_at is not None


def test_a_cohorts_grant_can_be_applied_to_its_current_members(admin_client, admin_user, cohort, tester, red_teamer):
    red_grant = Grant.objects.get(user=red_teamer).limits()

    response = admin_client.post(
        reverse("access_manage:cohort_grant", args=["alpha", cohort.slug]),
        _grant_data(cohort, max_frames=300, apply_to_members="on"),
    )

    assert response.status_code == 302
    assert "1 member&#x27;s grant brought to it" in admin_client.get(response["Location"]).content.decode()
    assert Grant.objects.get(user=tester).max_frames == 300
    assert Grant.objects.get(user=red_teamer).limits() == red_grant, "another cohort's members are not touched"
    event = AuditEvent.objects.get(action="access.grant_changed", subject=tester)
    assert event.actor == admin_user and event.data["after"] == {"max_frames": 300}
    assert event.reason == "Wave 2 gets longer clips."


def test_saving_an_unchanged_cohort_grant_records_nothing(admin_client, cohort):
    before = AuditEvent.objects.count()
    response = admin_client.post(
        reverse("access_manage:cohort_grant", args=["alpha", cohort.slug]), _grant_data(cohort)
    )
    assert response.status_code == 302 and AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reason": ""}, "Say why"),
        ({"max_steps": "many"}, "Enter a whole number"),
        ({"max_queued_jobs": -1}, "greater than or equal to 0"),
        ({"model_keys": ["sora"]}, "Select a valid choice"),
    ],
)
def test_bad_cohort_grant_changes_are_refused_and_change_nothing(admin_client, cohort, changes, message):
    before = (Cohort.objects.filter(pk=cohort.pk).values(*Cohort.LIMIT_FIELDS).get(), AuditEvent.objects.count())
    response = admin_client.post(
        reverse("access_manage:cohort_grant", args=["alpha", cohort.slug]), _grant_data(cohort, **changes)
    )
    assert response.status_code == 400 and message in response.content.decode()
    assert (
        Cohort.objects.filter(pk=cohort.pk).values(*Cohort.LIMIT_FIELDS).get(),
        AuditEvent.objects.count(),
    ) == before


def test_another_programmes_admin_cannot_touch_its_cohorts(client, cohort):
    beta = programme_create(name="Beta")
    cohort_create(programme=beta, name="Wave 1")
    beta_admin = with_totp(member("beta@example.org", programme=beta, role=Role.ADMIN))
    client.force_login(beta_admin)
    before = Cohort.objects.filter(pk=cohort.pk).values(*Cohort.LIMIT_FIELDS).get()
    # Under its own programme's slug the cohort's slug names Beta's cohort, never Alpha's.
    client.post(reverse("access_manage:cohort_grant", args=["beta", "wave-1"]), _grant_data(cohort, max_frames=1))
    response = client.post(reverse("access_manage:cohort_grant", args=["alpha", "wave-1"]), _grant_data(cohort))
    assert response.status_code == 404
    assert Cohort.objects.filter(pk=cohort.pk).values(*Cohort.LIMIT_FIELDS).get() == before


# --- The invitation form's defaults, the links to leak alerts and trace ------------------------------------------


def _blank_invitation(programme) -> dict:
    form = InvitationForm(programme=programme)
    return {name: form[name].value() for name in form.fields if form[name].value() not in (None, "")}


@pytest.mark.parametrize("with_cohort", [True, False])
def test_the_invite_forms_defaults_pass_its_own_validation(admin_client, programme, with_cohort, request):
    if with_cohort:
        request.getfixturevalue("cohort")
    data = _blank_invitation(programme) | {"addresses": "someone@example.org"}

    response = admin_client.post(reverse("access_manage:invitations", args=["alpha"]), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    invitation = Invitation.objects.get(email="someone@example.org")
    assert (invitation.role, invitation.cohort) == (
        (Role.ARTIST, programme.cohorts.get()) if with_cohort else (Role.REVIEWER, None)
    )


def test_a_reviewer_invited_with_a_cohort_chosen_joins_the_programme_not_the_cohort(admin_client, cohort):
    data = {"role": Role.REVIEWER, "cohort": cohort.pk, "days": 14, "addresses": "rev@example.org"}
    assert admin_client.post(reverse("access_manage:invitations", args=["alpha"]), data).status_code == 302
    assert Invitation.objects.get().cohort is None


def test_the_programme_pages_lead_to_leak_alerts_and_the_trace(admin_client, tester, cohort):
    alert_raise(
        kind=LeakAlert.Kind.NETWORKS, user=tester, credential=session_credential("k"), session_key="k", networks=5
    )
    for name, args in [("access_manage:programme", ["alpha"]), ("access_manage:cohort", ["alpha", cohort.slug])]:
        page = admin_client.get(reverse(name, args=args)).content.decode()
        assert f'href="{reverse("leaks:list")}"' in page and f'href="{reverse("trace:upload")}"' in page, name
    assert "1 leak alert about people in Alpha awaits review" in admin_client.get("/manage/alpha/").content.decode()
    # Both pages open for the programme's admin.
    assert admin_client.get(reverse("leaks:list")).status_code == 200
    assert admin_client.get(reverse("trace:upload")).status_code == 200


def test_the_operators_nav_and_manage_index_lead_to_the_console(operator_client, programme):
    page = operator_client.get("/manage/").content.decode()
    assert f'href="{CONSOLE}"' in page and "Set up a programme" in page


# --- The Django admin only shows them ---------------------------------------------------------------------------


def test_the_django_admin_shows_programmes_and_cohorts_but_changes_neither(operator_client, programme, cohort):
    for model, obj in [("programme", programme), ("cohort", cohort)]:
        assert operator_client.get(reverse(f"admin:access_{model}_changelist")).status_code == 200
        assert operator_client.get(reverse(f"admin:access_{model}_change", args=[obj.pk])).status_code == 200
        assert operator_client.get(reverse(f"admin:access_{model}_add")).status_code == 403
        assert (
            operator_client.post(reverse(f"admin:access_{model}_change", args=[obj.pk]), {"name": "X"}).status_code
            == 403
        )
        assert (
            operator_client.post(reverse(f"admin:access_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code
            == 403
        )
    programme.refresh_from_db()
    cohort.refresh_from_db()
    assert (programme.name, cohort.name) == ("Alpha", "Wave 1")


def test_membership_add_of_an_admin_needs_no_cohort(programme):
    # What the set-up relies on for an existing account.
    person = UserFactory(email="x@example.org")
    assert membership_add(user=person, programme=programme, role=Role.ADMIN).cohort is None
