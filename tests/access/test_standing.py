"""A person's standing (access/standing.py) is read once and kept between requests, and every change to what they
may do is seen by their next request: the kept standing is never read again after a change, nor after the moment a
suspension or grant starts or ends by the clock."""

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.models import Grant, Membership, Role, Suspension, TermsResponse, TermsVersion, User
from access.programmes import membership_add
from access.standing import standing
from access.suspensions import pause, reinstate, suspend
from access.terms import terms_publish, terms_respond

pytestmark = pytest.mark.django_db

ACCESS_TABLES = [model._meta.db_table for model in (Suspension, Grant, Membership, TermsVersion, TermsResponse)]


def _now(user) -> User:
    """``user`` as the next request loads it."""
    return User.objects.get(pk=user.pk)


def _access_queries(queries) -> list[str]:
    return [query["sql"] for query in queries if any(f'"{table}"' in query["sql"] for table in ACCESS_TABLES)]


def test_a_signed_in_page_reads_access_once_and_the_next_page_not_at_all(tester):
    client = Client()
    client.force_login(tester)
    with CaptureQueriesContext(connection) as first:
        page = client.get("/feedback/").content.decode()
    assert ">Generate</a>" in page
    assert len([sql for sql in _access_queries(first) if f'"{Suspension._meta.db_table}"' in sql]) == 2  # + when next

    with CaptureQueriesContext(connection) as second:
        page = client.get("/feedback/").content.decode()
    assert ">Generate</a>" in page and ">My clips</a>" in page and ">Report a bug</a>" in page
    assert _access_queries(second) == []


def test_the_next_page_after_a_grant_ends_loses_generate(tester):
    client = Client()
    client.force_login(tester)
    assert ">Generate</a>" in client.get("/feedback/").content.decode()
    grant = tester.grants.get()
    grant.ends_at = timezone.now()
    grant.save(update_fields=["ends_at"])

    page = client.get("/feedback/").content.decode()
    assert ">Generate</a>" not in page and ">My clips</a>" in page


def test_new_terms_send_the_next_page_to_answer_them(tester, admin_user):
    client = Client()
    client.force_login(tester)
    assert client.get("/feedback/").status_code == 200
    terms = terms_publish(programme=tester.memberships.get().programme, text="Be kind.", actor=admin_user)

    response = client.get("/feedback/")
    assert response.status_code == 302 and response["Location"] == f"/terms/{terms.programme.slug}/"
    terms_respond(user=tester, terms=terms, accepted=True)
    assert client.get("/feedback/").status_code == 200


@pytest.mark.parametrize("scope", ["person", "cohort", "programme"])
def test_a_suspension_and_its_lifting_are_seen_at_once(scope, tester, admin_user, django_capture_on_commit_callbacks):
    programme = tester.memberships.get().programme
    assert standing(_now(tester)).site
    with django_capture_on_commit_callbacks(execute=True):
        if scope == "programme":
            suspension = pause(programme=programme, reason="Swapping the model", actor=admin_user)
        else:
            who = {"user": tester} if scope == "person" else {"cohort": tester.memberships.get().cohort}
            suspension = suspend(programme=programme, reason="Shared a clip", actor=admin_user, **who)
    refused = standing(_now(tester))
    assert not refused.site and not refused.render

    with django_capture_on_commit_callbacks(execute=True):
        reinstate(suspension=suspension, actor=admin_user)
    assert standing(_now(tester)).site and standing(_now(tester)).render


def test_a_cohort_renamed_is_named_so_in_its_suspension(tester, admin_user, django_capture_on_commit_callbacks):
    cohort = tester.memberships.get().cohort
    with django_capture_on_commit_callbacks(execute=True):
        suspend(programme=cohort.programme, cohort=cohort, reason="Leaked", actor=admin_user)
    assert "cohort Wave 1 " in standing(_now(tester)).site.reason
    cohort.name = "Wave One"
    cohort.save(update_fields=["name"])
    assert "cohort Wave One " in standing(_now(tester)).site.reason


def test_a_new_membership_is_seen_at_once(outsider, programme):
    assert standing(_now(outsider)).roles == frozenset()
    membership_add(user=outsider, programme=programme, role=Role.REVIEWER)
    assert standing(_now(outsider)).roles == {Role.REVIEWER}


def test_a_change_rolled_back_leaves_the_kept_standing_right(tester, admin_user):
    assert standing(_now(tester)).site
    with pytest.raises(RuntimeError), transaction.atomic():
        suspend(programme=tester.memberships.get().programme, user=tester, reason="By mistake", actor=admin_user)
        assert not standing(_now(tester)).site
        raise RuntimeError("rolled back")
    assert standing(_now(tester)).site


def test_a_suspension_that_starts_by_the_clock_is_seen_when_it_starts(tester, admin_user):
    """Made ahead (as the admin page may), it moves nothing when it starts: the standing kept meanwhile ends then."""
    soon = timezone.now() + timedelta(seconds=1.5)
    Suspension.objects.create(
        programme=tester.memberships.get().programme,
        scope=Suspension.Scope.PERSON,
        user=tester,
        reason="From tonight",
        starts_at=soon,
        created_by=admin_user,
    )
    kept = _now(tester)
    assert standing(kept).site
    time.sleep(max(0.0, (soon - timezone.now()).total_seconds()) + 0.1)
    assert not standing(kept).site, "the same version, read again after the suspension started"


def test_an_account_saved_from_a_copy_loaded_before_a_suspension_keeps_the_suspension(
    tester, admin_user, django_capture_on_commit_callbacks
):
    """A request that loaded the account before an admin suspended it and then saves it (a password or name
    changed) writes its own fields, not the session epoch and standing version it loaded."""
    loaded = _now(tester)
    assert standing(loaded).site
    with django_capture_on_commit_callbacks(execute=True):
        suspend(programme=tester.memberships.get().programme, user=tester, reason="Shared a clip", actor=admin_user)
    loaded.display_name = "Renamed"
    loaded.save()

    now = _now(tester)
    assert now.display_name == "Renamed"
    assert now.session_epoch == loaded.session_epoch + 1 and now.standing_version != loaded.standing_version
    assert not standing(now).site
