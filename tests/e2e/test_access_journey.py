"""Invariants 1, 2 and 8 as people see them, in Chromium: an admin invites someone from the Manage
pages, the invitee signs up through the emailed link, answers the terms and submits a prompt; the admin
suspends them and their open page stops working."""

import re

import pytest
from django.core import mail

from access.models import AuditEvent, User
from access.terms import terms_publish
from tests.e2e.browser import advanced_open, page_as

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-enough-passphrase"


def test_invite_sign_up_accept_terms_generate_then_be_suspended(browser, live_server, admin_user, cohort, settings):
    settings.SITE_URL = live_server.url
    terms_publish(programme=cohort.programme, text="Keep the model confidential.", actor=admin_user)
    admin = page_as(browser, live_server, admin_user)

    # The admin invites a new artist into Wave 1.
    admin.goto(f"{live_server.url}/manage/alpha/invitations/")
    admin.select_option("select[name=cohort]", value=str(cohort.pk))
    admin.fill("textarea[name=addresses]", "Newcomer <newcomer@example.org>")
    admin.click("button:has-text('Send invitations')")
    admin.wait_for_selector("text=newcomer@example.org")
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body).group(0)

    # The invitee follows the link, signs up, answers the terms and submits a prompt.
    invitee = browser.new_context().new_page()
    invitee.goto(link)
    assert invitee.input_value("input[name=email]") == "newcomer@example.org"
    invitee.fill("input[name=password1]", PASSWORD)
    invitee.fill("input[name=password2]", PASSWORD)
    invitee.click("button:has-text('Create account')")
    invitee.wait_for_selector("text=Keep the model confidential.")
    invitee.click("button:has-text('Accept version 1')")
    invitee.click("text=Generate")
    invitee.fill("textarea[name=prompt]", "a red bird over a quiet sea")
    # Long enough to be still waiting or running when the suspension comes, whether or not a worker runs.
    advanced_open(invitee)
    invitee.select_option("select[name=num_frames]", "121")
    for name, value in {"width": "704", "height": "480", "num_steps": "100"}.items():
        invitee.fill(f"input[name={name}]", value)
    invitee.click("button:has-text('Render')")
    invitee.wait_for_selector("text=a red bird over a quiet sea")
    assert invitee.locator(".state").first.inner_text() in {"Queued", "Running"}

    # The admin suspends them from their page.
    newcomer = User.objects.get(email="newcomer@example.org")
    admin.goto(f"{live_server.url}/manage/alpha/people/{newcomer.pk}/")
    admin.fill("form[action$='/suspend/'] [name=reason]", "Posted clips publicly")
    admin.click("button:has-text('Take access away')")
    admin.wait_for_selector("text=Posted clips publicly")

    # The invitee's next page: their session has ended; signing in again shows why.
    invitee.reload()
    assert "/accounts/login/" in invitee.url
    invitee.fill("input[name=login]", "newcomer@example.org")
    invitee.fill("input[name=password]", PASSWORD)
    invitee.click("button[type=submit]")
    assert "Posted clips publicly" in invitee.locator(".reason").inner_text()
    assert newcomer.render_jobs.get().state == "cancelled"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "access.invitation_sent",
        "access.invitation_accepted",
        "access.terms_accepted",
        "access.suspension_started",
    } <= actions
