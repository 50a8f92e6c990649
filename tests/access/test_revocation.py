"""Invariant 2: revoking a person, a cohort or the whole programme takes effect at once, for exactly
those people. (A job stopped mid-render by a real worker: tests/e2e/test_revocation_worker.py.)"""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEvent, Role, Suspension
from access.policy import may_render, may_use_site
from access.suspensions import pause, reinstate, revoke, suspend, suspension_build
from generation.models import RenderJob
from generation.queue import job_claim
from generation.render import job_succeed
from generation.submission import job_create
from tests.conftest import member
from tests.factories import job_settings

pytestmark = pytest.mark.django_db

SMALL = job_settings()


def _signed_in(user, password):
    client = Client()
    assert client.login(email=user.email, password=password)
    return client


def _suspend(who, *, actor, capture, kind="suspension", **kwargs):
    """Through the verb for ``who``: pause a programme; suspend, or revoke, a person or a cohort."""
    scope = who.pop("scope")
    verb = pause if scope == "programme" else revoke if kind == "revocation" else suspend
    with capture(execute=True):
        return verb(actor=actor, reason="Shared their account", **who, **kwargs)


def test_suspending_a_person_cuts_them_off_at_once(
    tester, tester2, admin_user, password, django_capture_on_commit_callbacks
):
    tester_browser, other_browser = _signed_in(tester, password), _signed_in(tester2, password)
    queued = job_create(owner=tester, **SMALL)
    running = job_claim(job_id=job_create(owner=tester, **SMALL).pk, worker="w")
    done = job_claim(job_id=job_create(owner=tester, **SMALL).pk, worker="w")
    job_succeed(job=done, video=b"clip", device_seconds=1.0, encode_seconds=0.1)
    others = job_create(owner=tester2, **SMALL)
    mail.outbox.clear()

    suspension = _suspend(
        {"programme": tester.grants.get().programme, "scope": "person", "user": tester},
        actor=admin_user,
        capture=django_capture_on_commit_callbacks,
    )

    # Their session has ended: the next page asks them to sign in.
    assert tester_browser.get(reverse("generation:job_list")).status_code == 302
    # Signing in again gets a page saying why; the API gets a 403 saying why.
    again = _signed_in(tester, password)
    page = again.get(reverse("generation:job_list"))
    assert page.status_code == 403 and "Shared their account" in page.content.decode()
    api = again.get("/api/v1/jobs/")
    assert api.status_code == 403 and "Shared their account" in api.json()["detail"]
    # Media links they hold stop working.
    assert again.get(reverse("generation:job_video", args=[done.pk])).status_code == 403
    assert tester_browser.get(reverse("generation:job_video", args=[done.pk])).status_code == 403
    # Queued and running jobs are cancelled and refunded; finished work stays theirs.
    for job in (queued, running):
        job.refresh_from_db()
        assert (job.state, job.charged_seconds) == ("cancelled", 0), job
        assert "Shared their account" in job.error
    done.refresh_from_db()
    assert done.state == "succeeded" and done.charged_seconds == 1.0
    # The worker's next step check refuses the running job.
    assert not may_render(tester) and "Shared their account" in may_render(tester).reason
    # They are told, and it is in the audit trail.
    assert [message.to for message in mail.outbox] == [[tester.email]]
    assert "Why: Shared their account" in mail.outbox[0].body
    event = AuditEvent.objects.get(action="access.suspension_started")
    assert (event.actor, event.subject, event.data["affected"]) == (admin_user, tester, 1)
    assert event.reason == suspension.reason
    # Nobody else is affected.
    assert other_browser.get(reverse("generation:job_list")).status_code == 200
    others.refresh_from_db()
    assert others.state == "queued"
    assert job_create(owner=tester2, **SMALL)


def test_lifting_a_suspension_restores_access(tester, admin_user, password, django_capture_on_commit_callbacks):
    suspension = _suspend(
        {"programme": tester.grants.get().programme, "scope": "person", "user": tester},
        actor=admin_user,
        capture=django_capture_on_commit_callbacks,
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reinstate(suspension=suspension, actor=admin_user, reason="It was a shared office network")

    assert may_render(tester)
    assert _signed_in(tester, password).get(reverse("generation:job_list")).status_code == 200
    assert "access to Alpha on Backlot is restored" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="access.suspension_lifted", actor=admin_user, subject=tester).exists()
    with pytest.raises(ValidationError, match="already been lifted"):
        reinstate(suspension=suspension, actor=admin_user)


def test_a_suspension_with_an_end_time_ends_by_itself(tester, admin_user, django_capture_on_commit_callbacks):
    suspension = _suspend(
        {"programme": tester.grants.get().programme, "scope": "person", "user": tester},
        actor=admin_user,
        capture=django_capture_on_commit_callbacks,
        ends_at=timezone.now() + timedelta(hours=1),
    )
    assert "until" in may_use_site(tester).reason

    Suspension.objects.filter(pk=suspension.pk).update(ends_at=timezone.now() - timedelta(seconds=1))

    assert may_render(tester)


def test_suspending_a_cohort_affects_exactly_its_members(
    tester, tester2, red_teamer, admin_user, password, cohort, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    _suspend(
        {"programme": cohort.programme, "scope": "cohort", "cohort": cohort},
        actor=admin_user,
        capture=django_capture_on_commit_callbacks,
    )

    assert not may_use_site(tester) and not may_use_site(tester2)
    assert "cohort Wave 1" in may_use_site(tester).reason
    assert may_render(red_teamer)
    assert _signed_in(red_teamer, password).get(reverse("generation:job_list")).status_code == 200
    assert {message.to[0] for message in mail.outbox} == {tester.email, tester2.email}


def test_pausing_the_programme_stops_every_tester_but_not_its_admins(
    tester, red_teamer, admin_user, password, programme, django_capture_on_commit_callbacks
):
    queued = job_create(owner=red_teamer, **SMALL)
    pause = _suspend(
        {"programme": programme, "scope": "programme"}, actor=admin_user, capture=django_capture_on_commit_callbacks
    )

    assert pause.kind == "pause"
    assert not may_use_site(tester) and "programme Alpha is paused" in may_use_site(tester).reason
    assert not may_use_site(red_teamer)
    assert may_use_site(admin_user)
    queued.refresh_from_db()
    assert queued.state == "cancelled"

    reinstate(suspension=pause, actor=admin_user, reason="Fixed")
    assert may_render(tester) and may_render(red_teamer)


def test_a_person_in_another_programme_is_not_affected_by_a_pause(
    tester, programme, admin_user, django_capture_on_commit_callbacks
):
    from access.programmes import cohort_create, programme_create

    beta = programme_create(name="Beta")
    b1 = cohort_create(programme=beta, name="B1")
    elsewhere = member("beta@example.org", programme=beta, role=Role.ARTIST, cohort=b1)
    _suspend(
        {"programme": programme, "scope": "programme"}, actor=admin_user, capture=django_capture_on_commit_callbacks
    )

    assert not may_use_site(tester)
    assert may_render(elsewhere)


@pytest.mark.parametrize(
    ("verb", "kwargs", "field"),
    [
        (suspend, {"reason": "  "}, "reason"),
        (suspend, {"ends_at": timezone.now() - timedelta(minutes=1)}, "ends_at"),
        # revoke takes no end time; the rule behind every verb refuses one too (the page: test_manage_pages).
        (
            suspension_build,
            {"scope": "person", "kind": "revocation", "ends_at": timezone.now() + timedelta(days=1)},
            "ends_at",
        ),
    ],
)
def test_bad_suspensions_are_refused_and_change_nothing(tester, admin_user, verb, kwargs, field):
    arguments = {
        "programme": tester.grants.get().programme,
        "user": tester,
        "reason": "Because",
        "actor": admin_user,
        **kwargs,
    }
    with pytest.raises(ValidationError) as error:
        verb(**arguments)
    assert field in error.value.message_dict
    assert not Suspension.objects.exists() and not AuditEvent.objects.filter(action__contains="suspension").exists()
    assert may_render(tester)


def test_a_cohort_of_another_programme_is_refused(admin_user, cohort):
    from access.programmes import programme_create

    other = programme_create(name="Gamma")
    with pytest.raises(ValidationError):
        suspend(programme=other, cohort=cohort, reason="x", actor=admin_user)
    assert not Suspension.objects.exists()


def test_revoking_is_permanent_until_lifted(tester, admin_user, django_capture_on_commit_callbacks):
    _suspend(
        {"programme": tester.grants.get().programme, "scope": "person", "user": tester},
        actor=admin_user,
        capture=django_capture_on_commit_callbacks,
        kind="revocation",
    )
    assert "has been revoked" in may_use_site(tester).reason
    assert AuditEvent.objects.filter(action="access.revocation_started").exists()


def test_the_audit_trail_cannot_be_edited_or_deleted(tester, admin_user, django_capture_on_commit_callbacks):
    _suspend(
        {"programme": tester.grants.get().programme, "scope": "person", "user": tester},
        actor=admin_user,
        capture=django_capture_on_commit_callbacks,
    )
    event = AuditEvent.objects.get(action="access.suspension_started")
    count = AuditEvent.objects.count()

    event.reason = "nothing happened"
    with pytest.raises(ValidationError):
        event.save()
    with pytest.raises(ValidationError):
        event.delete()
    with pytest.raises(ValidationError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="edited")
    with pytest.raises(ValidationError):
        AuditEvent.objects.all().delete()
    event.refresh_from_db()
    assert event.reason == "Shared their account" and AuditEvent.objects.count() == count


def test_everyone_is_refused_when_deactivated(tester, password):
    browser = _signed_in(tester, password)
    tester.is_active = False
    tester.save()
    assert browser.get(reverse("generation:job_list")).status_code in (302, 403)
    assert not may_render(tester)
    assert RenderJob.objects.count() == 0


def test_one_person_s_answer_is_the_same_as_in_a_list_of_people(programme, cohort, tester, tester2, admin_user):
    """may_use_site asks in one query for one person, site_decisions for a list: the same rule either way."""
    from access.policy import site_decisions
    from access.programmes import cohort_create, membership_add, programme_create

    other = programme_create(name="Other programme")
    other_cohort = cohort_create(programme=other, name="Other wave")
    membership_add(
        user=admin_user, programme=other, role=Role.ARTIST, cohort=other_cohort
    )  # tests where it is no admin
    membership_add(user=tester2, programme=other, role=Role.ARTIST, cohort=other_cohort)
    membership_add(user=admin_user, programme=programme, role=Role.ARTIST, cohort=cohort)  # and tests where it runs
    people = [tester, tester2, admin_user]

    def answers():
        batch = site_decisions(people)
        assert {person.pk: may_use_site(person) for person in people} == batch
        return [bool(batch[person.pk]) for person in people]

    assert answers() == [True, True, True]
    pause(programme=programme, reason="leak")  # its admin keeps access
    assert answers() == [False, False, True]
    Suspension.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    suspend(programme=programme, cohort=cohort, reason="a cohort")  # a cohort: its admin's membership in it too
    assert answers() == [False, False, False]
    Suspension.objects.update(ends_at=timezone.now() - timedelta(seconds=1))  # all over
    suspend(programme=other, cohort=other_cohort, reason="spam")
    assert answers() == [True, False, False]
    Suspension.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    pause(programme=other, reason="leak")  # admin_user runs `programme` but only tests in `other`
    assert answers() == [True, False, False]
    Suspension.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    suspend(programme=programme, user=tester, reason="one person")
    assert answers() == [False, True, True]
