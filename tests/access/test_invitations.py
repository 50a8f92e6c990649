"""Invariant 1: only invited people can sign up; an invitation is single-use and expires."""

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from access.invitations import invitation_resend, invitation_revoke, invitations_create
from access.models import AuditEvent, Grant, Invitation, Membership, Role, User

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase"


@pytest.fixture
def invite(cohort, admin_user, django_capture_on_commit_callbacks):
    """Invite addresses into Wave 1 as artists; returns {address: the link from its email}."""

    def _invite(*emails, role=Role.ARTIST):
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            invitations_create(
                programme=cohort.programme, cohort=cohort, role=role, emails=list(emails), actor=admin_user
            )
        return {message.to[0]: _link(message.body) for message in mail.outbox}

    return _invite


def _link(body: str) -> str:
    return re.search(r"https?://\S+/invitations/\S+/", body).group(0)


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def _sign_up(client, link, email, password=PASSWORD):
    landing = client.get(_path(link))
    form = {"email": email, "password1": password, "password2": password}
    return landing, client.post(reverse("account_signup"), form)


def test_an_invited_person_signs_up_through_the_link(client, invite, cohort):
    link = invite("New.Artist@Example.org")["new.artist@example.org"]

    landing, response = _sign_up(client, link, "new.artist@example.org")

    assert landing.status_code == 302 and "signup" in landing["Location"] and "new.artist" in landing["Location"]
    assert response.status_code == 302
    user = User.objects.get(email="new.artist@example.org")
    assert EmailAddress.objects.get(user=user).verified, "following the emailed link proves the address"
    assert Membership.objects.filter(user=user, cohort=cohort, role=Role.ARTIST).exists()
    grant = Grant.objects.get(user=user)
    assert grant.limits() == cohort.limits()
    invitation = Invitation.objects.get()
    assert invitation.state == "accepted" and invitation.accepted_by == user
    assert client.get(reverse("generation:job_create")).status_code == 200
    actions = list(AuditEvent.objects.order_by("at", "id").values_list("action", flat=True))
    assert actions[-6:] == [
        "access.invitation_sent",
        "access.membership_added",
        "access.grant_created",
        "access.invitation_accepted",
        "access.signed_up",
        "access.signed_in",
    ]
    # The sign-up is recorded once the person has joined, so that it carries the programme.
    assert AuditEvent.objects.get(action="access.signed_up").programme == cohort.programme


def test_the_invitation_email_says_where_when_and_until_when(invite, cohort):
    invite("someone@example.org")
    message = mail.outbox[0]
    assert message.subject == "You're invited to Alpha on Backlot"
    assert "artist in Wave 1" in message.body
    assert "someone@example.org only" in message.body


def test_the_account_is_bound_to_the_invited_address(client, invite):
    link = invite("invited@example.org")["invited@example.org"]

    _, response = _sign_up(client, link, "someone.else@example.org")

    assert response.status_code == 200
    assert "This invitation is for invited@example.org" in response.content.decode()
    assert not User.objects.filter(email__in=["someone.else@example.org", "invited@example.org"]).exists()


def test_a_used_link_cannot_be_used_again(client, invite):
    link = invite("once@example.org")["once@example.org"]
    _sign_up(client, link, "once@example.org")
    client.logout()

    response = client.get(_path(link))

    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert "No account was created" in response.content.decode()
    assert User.objects.filter(email="once@example.org").count() == 1


def test_an_expired_link_gets_a_clear_page_and_no_account(client, invite):
    link = invite("late@example.org")["late@example.org"]
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.get(_path(link))
    signup = client.post(
        reverse("account_signup"), {"email": "late@example.org", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert response.status_code == 410 and "has expired" in response.content.decode()
    assert "Sign-up is closed" in signup.content.decode()
    assert not User.objects.filter(email="late@example.org").exists()


def test_a_link_that_expires_between_landing_and_sign_up_creates_no_account(client, invite):
    link = invite("slow@example.org")["slow@example.org"]
    client.get(_path(link))
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.post(
        reverse("account_signup"), {"email": "slow@example.org", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert "Sign-up is closed" in response.content.decode()
    assert not User.objects.filter(email="slow@example.org").exists()


def test_a_revoked_link_gets_a_clear_page(client, invite, admin_user):
    link = invite("withdrawn@example.org")["withdrawn@example.org"]
    invitation_revoke(invitation=Invitation.objects.get(), actor=admin_user)

    response = client.get(_path(link))

    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    assert Invitation.objects.get().state == "revoked"
    assert AuditEvent.objects.filter(action="access.invitation_revoked", actor=admin_user).exists()


def test_a_forged_link_gets_a_clear_page(client, invite):
    invite("real@example.org")
    response = client.get("/invitations/forged-token-that-was-never-issued/")
    assert response.status_code == 410 and "not valid" in response.content.decode()


def test_sign_up_without_an_invitation_is_closed(client, invite):
    invite("real@example.org")
    response = client.post(
        reverse("account_signup"), {"email": "real@example.org", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert "Sign-up is closed" in response.content.decode()
    assert not User.objects.filter(email="real@example.org").exists()


def test_resending_replaces_the_link(client, invite, admin_user, django_capture_on_commit_callbacks):
    old_link = invite("again@example.org")["again@example.org"]
    with django_capture_on_commit_callbacks(execute=True):
        invitation_resend(invitation=Invitation.objects.get(), actor=admin_user)
    new_link = _link(mail.outbox[-1].body)

    assert new_link != old_link
    assert client.get(_path(old_link)).status_code == 410
    _, response = _sign_up(client, new_link, "again@example.org")
    assert response.status_code == 302 and User.objects.filter(email="again@example.org").exists()
    assert Invitation.objects.get().send_count == 2


def test_an_existing_account_joins_by_signing_in(client, invite, outsider, password):
    link = invite(outsider.email, role=Role.COLLABORATOR)[outsider.email]

    landing = client.get(_path(link))
    client.post(reverse("account_login"), {"login": outsider.email, "password": password})

    assert "/accounts/login/" in landing["Location"]
    assert Membership.objects.filter(user=outsider, role=Role.COLLABORATOR).exists()
    assert Invitation.objects.get().state == "accepted"


def test_inviting_skips_bad_duplicate_and_already_invited_addresses(cohort, tester, admin_user):
    made, skipped = invitations_create(
        programme=cohort.programme,
        cohort=cohort,
        role=Role.ARTIST,
        actor=admin_user,
        emails=["ok@example.org", "not-an-address", "OK@example.org", tester.email],
    )
    again, skipped_again = invitations_create(
        programme=cohort.programme, cohort=cohort, role=Role.ARTIST, emails=["ok@example.org"]
    )

    assert [invitation.email for invitation in made] == ["ok@example.org"]
    assert skipped == {
        "not-an-address": "not a valid email address",
        "OK@example.org": "listed twice",
        tester.email: "already a member with this role",
    }
    assert again == [] and "open invitation" in skipped_again["ok@example.org"]


def test_testers_must_be_invited_into_a_cohort(programme):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="cohort"):
        invitations_create(programme=programme, cohort=None, role=Role.ARTIST, emails=["a@example.org"])
    assert not Invitation.objects.exists()
