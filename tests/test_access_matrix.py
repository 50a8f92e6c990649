"""The access matrix: for every URL pattern in the resolver and every endpoint in the API schema, what each
role of the standing cast gets. Kept as data, one line per (URL name, method); the walk fails when a URL
pattern or an API endpoint exists that the matrix does not list, so a new page must say who may reach it.

Columns, in this order:  anonymous, outsider, tester, tester2, red_teamer, reviewer, admin, staff, other_admin,
suspended
  - tester owns every object a URL names (their clip, preset, token, report ...); tester2 is another artist
    of the same cohort and must never reach them; admin is the programme's admin (not Django staff); staff is
    the operator's Django staff (in no programme); other_admin administers another programme and must not
    reach this one's. suspended is an artist of Wave 1 whose access was suspended: everything is refused but
    signing out and the export of their own data. Reviewer, admins and staff have TOTP set up, and their
    sessions passed it (staff pages need it: tests/access/test_staff_mfa.py, test_sign_in_doors.py).
Outcomes:
  ok   reached the view: 2xx, a redirect that is not to a sign-in page, or 400 for a deliberately empty form
  in   sent to sign in (302 to /accounts/login/, or to /admin/login/ for the Django admin)
  mfa  sent to set up two-factor authentication first
  401, 403, 404, 405, 409, 503  that status
Each request runs in a savepoint that is rolled back, so one role's POST does not change what the next
request sees. POSTs send ``data`` (empty unless given): the point is who gets past the guards.

Rules for patterns not listed one by one:
  - allauth's own URLs (callback in an ``allauth.`` module) are allauth's to guard; the ones Backlot links
    to or overrides are listed anyway (sign-in, sign-up, sign-out, e-mail, two-factor, sessions).
  - the Django admin's internal URLs (``admin/...``) are guarded by the admin site itself (is_staff, then
    per-model permissions); only its index is listed.
The competition (/competition/, /reviews/, /manage/<slug>/competition/): tester enters the open call (for
Wave 1 only) and has a published, appealed entry in another; reviewer is assigned tester's entry, blind.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from access.leaks import alert_raise, session_credential
from access.models import AuditEvent, ContributionRate, Invitation, LeakAlert, Role, Suspension, token_digest
from access.programmes import cohort_create, programme_create
from access.rates import rate_publish
from access.standing import standing_key
from access.suspensions import suspend
from access.tokens import token_create
from competition import calls, results, reviews
from competition.media import film_url
from competition.models import ReviewAssignment
from feedback import model_versions, ratings, reports
from feedback.ledger import ledger_credit
from feedback.models import Attachment, LedgerEntry
from feedback.payouts import payout_run
from feedback.showcase import showcase_offer
from generation import library
from generation.media import media_url
from generation.models import Worker
from generation.presets import preset_create
from generation.prompt_policy import prompt_rule_create
from tests.competition.conftest import close, enter, make_call, watch_through
from tests.conftest import (
    member,
    settings_for_tests,
    standing_cohort,
    standing_outsider,
    standing_programme,
    standing_red_team,
    standing_red_teamer,
    standing_reviewer,
    standing_tester,
    standing_tester2,
    with_totp,
)
from tests.factories import PASSWORD, RenderJobFactory, UserFactory, stored_image
from tests.feedback.conftest import finished_clip
from tests.generation.job_requests import SETTINGS

pytestmark = pytest.mark.django_db

ROLES = (
    "anonymous",
    "outsider",
    "tester",
    "tester2",
    "red_teamer",
    "reviewer",
    "admin",
    "staff",
    "other_admin",
    "suspended",
)
OUTCOMES = {"ok", "in", "mfa", "401", "403", "404", "405", "409", "503"}

JOB = {"prompt": "a lighthouse in fog", **SETTINGS}
PRESET = {"name": "Fog", **SETTINGS}


@dataclass(frozen=True)
class Row:
    name: str  # the URL's name, with its namespace
    method: str
    expected: str  # one outcome per role, in ROLES order
    kwargs: dict = field(default_factory=dict)  # URL parameters; a value names an object of the world
    data: dict | None = None  # what a POST sends (JSON for the API)
    api: bool = False
    own_session: bool = False  # signing out ends the session: such a row gets a session of its own

    def outcomes(self) -> dict[str, str]:
        values = self.expected.split()
        assert len(values) == len(ROLES) and set(values) <= OUTCOMES, f"{self.name}: {self.expected!r}"
        return dict(zip(ROLES, values, strict=True))


def page(name, expected, method="GET", *, data=None, own_session=False, **kwargs):
    return Row(name, method, expected, kwargs, data, own_session=own_session)


def api(name, method, expected, data=None, **kwargs):
    return Row(name, method, expected, kwargs, data, api=True)


# fmt: off
# Usual URL parameters: each names the world's object of that kind, owned by tester (see ``world``).
#                                                          anon  outs  test  tst2  red   revw  admn  staf  othr  susp
MATRIX = [
    page("home",                                          "ok    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("healthz",                                       "ok    ok    ok    ok    ok    ok    ok    ok    ok    ok"),
    page("livez",                                         "ok    ok    ok    ok    ok    ok    ok    ok    ok    ok"),
    # The world has a waiting job and no live worker: not ready, for everyone alike (tests/test_health.py).
    page("readyz",                                        "503   503   503   503   503   503   503   503   503   503"),
    # Off until BACKLOT_METRICS_TOKEN or BACKLOT_METRICS_NETWORKS is set; a session opens nothing (test_metrics.py).
    page("metrics",                                       "404   404   404   404   404   404   404   404   404   404"),
    page("sign_in",                                       "ok    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("account_login",                                 "ok    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("account_signup",                                "ok    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    # The Django admin has no password form of its own: it sends strangers to allauth's sign-in (below), refuses
    # anyone signed in who is not active staff, and checks nobody's password (a POST signs no one in).
    page("admin:login",                                   "in    403   403   403   403   403   403   ok    403   403"),
    page("admin:login",                                   "in    403   403   403   403   403   403   ok    403   403", "POST", data={"username": "staff@example.org", "password": PASSWORD}),
    # Password reset mails a link and never signs anyone in; the second factor is still asked at the next sign-in.
    page("account_reset_password",                        "ok    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("account_reset_password",                        "ok    ok    ok    ok    ok    ok    ok    ok    ok    403", "POST", data={"email": "staff@example.org"}),
    page("account_reset_password_from_key",               "ok    ok    ok    ok    ok    ok    ok    ok    ok    403", uidb36="1", key="set-1234"),
    # The second step of a sign-in, and asking again before a sensitive change: only within a sign-in under way.
    page("mfa_authenticate",                              "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("mfa_reauthenticate",                            "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("account_reauthenticate",                        "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    # Codes by email, for signing in and asking again: off here (ACCOUNT_LOGIN_BY_CODE_ENABLED is unset).
    page("account_request_reauthentication_code",         "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("account_confirm_reauthentication_code",         "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("account_confirm_login_code",                    "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    # Confirming an address signs in only the sign-in under way in that browser, through the same stages.
    page("account_confirm_email",                         "ok    ok    ok    ok    ok    ok    ok    ok    ok    403", key="not-a-key"),
    page("account_logout",                                "ok    ok    ok    ok    ok    ok    ok    ok    ok    ok", "POST", own_session=True),
    page("account_email",                                 "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("mfa_index",                                     "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("usersessions_list",                             "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("admin:index",                                   "in    in    in    in    in    in    in    ok    in    403"),
    page("access:invitation_accept",                      "ok    409   409   409   409   409   409   409   409   403", token="invitation_token"),
    # A tester's clips.
    page("generation:job_list",                           "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("generation:job_create",                         "in    403   ok    ok    ok    403   403   403   403   403"),
    page("generation:job_create",                         "in    403   ok    ok    ok    403   403   403   403   403", "POST", data=JOB),
    page("generation:job_estimate",                       "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("generation:job_recent",                         "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("generation:job_detail",                         "in    404   ok    404   404   404   404   404   404   403", job_id="clip"),
    page("generation:job_status",                         "in    404   ok    404   404   404   404   404   404   403", job_id="clip"),
    # Without its watch ticket (handed out by the clip's page) the poll answers nobody: tests/generation/test_progress_path.py.
    page("generation:job_progress",                       "403   403   403   403   403   403   403   403   403   403", job_id="clip"),
    page("generation:job_card",                           "in    404   ok    404   404   404   404   404   404   403", job_id="clip"),
    page("generation:job_cancel",                         "in    404   ok    404   404   404   404   404   404   403", "POST", job_id="queued_job"),
    page("generation:job_delete",                         "in    404   ok    404   404   404   404   404   404   403", job_id="clip"),
    page("generation:job_delete",                         "in    404   ok    404   404   404   404   404   404   403", "POST", job_id="clip"),
    page("generation:job_video",                          "403   404   ok    404   404   404   404   404   404   403", job_id="clip"),
    # A signed link is a bearer link for players and download tools: it works signed out, and only for its owner
    # when signed in. It expires, and stops when the owner loses access (tests/generation/test_views.py).
    page("generation:media",                              "ok    404   ok    404   404   404   404   404   404   403", token="media_token"),
    page("generation:preset_list",                        "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("generation:preset_create",                      "in    ok    ok    ok    ok    ok    ok    ok    ok    403", "POST"),
    page("generation:preset_rename",                      "in    404   ok    404   404   404   404   404   404   403", "POST", preset_id="preset"),
    page("generation:preset_delete",                      "in    404   ok    404   404   404   404   404   404   403", "POST", preset_id="preset"),
    # A tester's library: stars, collections and compare, of their own finished clips only.
    page("generation:favourite_set",                      "in    404   ok    404   404   404   404   404   404   403", "POST", job_id="clip", data={"favourite": "1"}),
    page("generation:collection_list",                    "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("generation:collection_list",                    "in    ok    ok    ok    ok    ok    ok    ok    ok    403", "POST", data={"name": "New"}),
    page("generation:collection_detail",                  "in    404   ok    404   404   404   404   404   404   403", collection_id="collection"),
    page("generation:collection_rename",                  "in    404   ok    404   404   404   404   404   404   403", "POST", collection_id="collection", data={"name": "Renamed"}),
    page("generation:collection_delete",                  "in    404   ok    404   404   404   404   404   404   403", collection_id="collection"),
    page("generation:collection_delete",                  "in    404   ok    404   404   404   404   404   404   403", "POST", collection_id="collection"),
    page("generation:clip_collection_add",                "in    404   ok    404   404   404   404   404   404   403", "POST", job_id="clip", data={"new_name": "New"}),
    page("generation:clip_collection_remove",             "in    404   ok    404   404   404   404   404   404   403", "POST", job_id="clip", collection_id="collection"),
    page("generation:compare_pick",                       "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("generation:compare",                            "in    404   ok    404   404   404   404   404   404   403", left_id="clip", right_id="clip2"),
    # The programme's prompt policy and shared presets: its admins (refusals: and its red team).
    page("generation_manage:prompt_policy",               "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("generation_manage:prompt_policy",               "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("generation_manage:prompt_policy_test",          "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("generation_manage:prompt_rule",                 "in    404   404   404   404   404   ok    404   404   403", slug="slug", rule_id="rule"),
    page("generation_manage:prompt_rule_toggle",          "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", rule_id="rule"),
    page("generation_manage:prompt_rule_delete",          "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", rule_id="rule"),
    page("generation_manage:refusals",                    "in    404   404   404   ok    404   ok    404   404   403", slug="slug"),
    page("generation_manage:presets",                     "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("generation_manage:preset_rename",               "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", preset_id="programme_preset"),
    page("generation_manage:preset_delete",               "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", preset_id="programme_preset"),
    # The render queue spans every programme: the operator's staff only.
    page("generation_staff:queue",                        "in    404   404   404   404   404   404   ok    404   403"),
    page("generation_staff:queue_job_action",             "in    404   404   404   404   404   404   ok    404   403", "POST", job_id="queued_job"),
    page("generation_staff:worker_health_reset",          "in    404   404   404   404   404   404   ok    404   403", "POST", worker_id="worker"),
    # Feedback: a tester's own reports, ratings and statement; their programme's admins triage.
    page("feedback:my_reports",                           "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("feedback:statement",                            "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("feedback:notifications",                        "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("feedback:notifications",                        "in    ok    ok    ok    ok    ok    ok    ok    ok    403", "POST"),
    page("feedback:clip_rate",                            "in    404   ok    404   404   404   404   404   404   403", job_id="clip"),
    page("feedback:clip_bug",                             "in    404   ok    404   404   404   404   404   404   403", job_id="clip"),
    page("feedback:clip_finding",                         "in    404   403   404   404   404   404   404   404   403", job_id="clip"),
    page("feedback:clip_showcase",                        "in    404   ok    404   404   404   404   404   404   403", "POST", job_id="clip"),
    page("feedback:bug_new",                              "in    403   ok    ok    ok    ok    ok    403   ok    403"),
    page("feedback:finding_new",                          "in    403   403   403   ok    403   403   403   403   403"),
    page("feedback:report_detail",                        "in    404   ok    404   404   404   ok    404   404   403", report_id="report"),
    page("feedback:report_comment",                       "in    404   ok    404   404   404   ok    404   404   403", "POST", report_id="report"),
    page("feedback:report_clip",                          "in    404   ok    404   404   404   ok    404   404   403", report_id="report"),
    page("feedback:report_input_image",                   "in    404   ok    404   404   404   ok    404   404   403", report_id="report", which="image"),
    page("feedback:report_source_clip",                   "in    404   ok    404   404   404   ok    404   404   403", report_id="report"),
    page("feedback:attachment",                           "in    404   ok    404   404   404   ok    404   404   403", report_id="report", attachment_id="attachment"),
    page("feedback:release_notes",                        "in    404   ok    ok    ok    ok    ok    404   404   403", version_id="version"),
    page("feedback_manage:queue",                         "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("feedback_manage:report_transition",             "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", report_id="report"),
    page("feedback_manage:report_assign",                 "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", report_id="report"),
    page("feedback_manage:ratings",                       "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("feedback_manage:ratings_export",                "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("feedback_manage:rating_decide",                 "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", rating_id="rating"),
    page("feedback_manage:payouts",                       "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("feedback_manage:payouts",                       "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("feedback_manage:payout_export",                 "in    404   404   404   404   404   ok    404   404   403", slug="slug", payout_id="payout"),
    page("feedback_manage:person_ledger",                 "in    404   404   404   404   404   ok    404   404   403", slug="slug", user_id="tester"),
    page("feedback_manage:showcase",                      "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("feedback_manage:showcase_use",                  "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", offer_id="offer"),
    page("feedback_manage:versions",                      "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("feedback_manage:versions",                      "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("feedback_manage:settings",                      "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("feedback_manage:settings",                      "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("feedback_programme:health",                     "in    404   ok    ok    ok    ok    ok    404   404   403", slug="slug"),
    page("programmes:rates",                              "in    404   ok    ok    ok    ok    ok    404   404   403", programme="slug"),
    page("terms:answer",                                  "in    404   404   404   404   404   404   404   404   403", programme="slug"),
    # A person's own account, tokens and data.
    page("account_pages:index",                           "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("account_pages:export",                          "in    ok    ok    ok    ok    ok    ok    ok    ok    ok"),
    page("tokens:list",                                   "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("tokens:list",                                   "in    ok    ok    ok    ok    ok    ok    ok    ok    403", "POST"),
    page("tokens:rotate",                                 "in    404   ok    404   404   404   404   404   404   403", "POST", token_id="token"),
    page("tokens:delete",                                 "in    404   ok    404   404   404   404   404   404   403", "POST", token_id="token"),
    # Programme administration: its admins only; anyone else is told nothing exists.
    page("access:manage_index",                           "in    404   404   404   404   404   ok    404   ok    403"),
    # Setting up a programme (its models, first admin and rates) is the operator's: their staff, nobody else.
    page("access_staff:programmes",                       "in    404   404   404   404   404   404   ok    404   403"),
    page("access_staff:programmes",                       "in    404   404   404   404   404   404   ok    404   403", "POST"),
    page("access_manage:programme",                       "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("access_manage:models",                          "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("access_manage:pause",                           "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("access_manage:resume",                          "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("access_manage:lift",                            "in    404   404   404   404   404   ok    404   404   403", slug="slug", suspension_id="suspension"),
    page("access_manage:lift",                            "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", suspension_id="suspension"),
    page("access_manage:invitations",                     "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("access_manage:invitations",                     "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("access_manage:invitation_resend",               "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", invitation_id="invitation"),
    page("access_manage:invitation_revoke",               "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", invitation_id="invitation"),
    page("access_manage:person",                          "in    404   404   404   404   404   ok    404   404   403", slug="slug", user_id="tester"),
    page("access_manage:person_grant",                    "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", user_id="tester"),
    page("access_manage:person_suspend",                  "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", user_id="tester"),
    page("access_manage:cohort_new",                      "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("access_manage:cohort_new",                      "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("access_manage:cohort",                          "in    404   404   404   404   404   ok    404   404   403", slug="slug", cohort_slug="cohort_slug"),
    page("access_manage:cohort_grant",                    "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", cohort_slug="cohort_slug"),
    page("access_manage:cohort_grant",                    "in    404   404   404   404   404   404   404   404   403", "POST", slug="other_slug", cohort_slug="cohort_slug"),
    page("access_manage:cohort_suspend",                  "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", cohort_slug="cohort_slug"),
    page("access_manage:audit",                           "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("access_manage:audit_export",                    "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    # The competition. Testers' pages: calls open to their cohort and role (the open call is for Wave 1 only, so
    # the red team is not eligible), their own entry and, once published, its scores and an appeal.
    page("competition:calls",                             "in    ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("competition:call",                              "in    404   ok    ok    404   404   ok    404   404   403", call_id="call"),
    page("competition:call",                              "in    404   ok    ok    404   404   ok    404   404   403", "POST", call_id="call"),
    page("competition:call",                              "in    404   ok    ok    ok    404   ok    404   404   403", call_id="published_call"),
    page("competition:call",                              "in    404   404   404   404   404   ok    404   404   403", call_id="draft_call"),
    page("competition:entry_status",                      "in    404   ok    ok    404   404   404   404   404   403", call_id="call"),
    page("competition:appeal",                            "in    404   ok    404   404   404   404   404   404   403", "POST", call_id="published_call"),
    page("competition:appeal",                            "in    404   ok    ok    404   404   404   404   404   403", "POST", call_id="call"),
    # Results are public once published, and nowhere before.
    page("competition:results",                           "ok    ok    ok    ok    ok    ok    ok    ok    ok    403", call_id="published_call"),
    page("competition:results",                           "404   404   404   404   404   404   404   404   404   403", call_id="call"),
    # Film links, bearer links like clips': the original for its entrant, the blind copy for its reviewer. A link
    # to the original made out to the reviewer serves nothing to anyone, nor a blind link once they stepped away.
    page("competition:film",                              "ok    403   ok    403   403   403   403   403   403   403", token="film_token"),
    page("competition:film",                              "ok    403   403   403   403   ok    403   403   403   403", token="blind_token"),
    page("competition:film",                              "403   403   403   403   403   403   403   403   403   403", token="reviewer_original_token"),
    page("competition:film",                              "403   403   403   403   403   403   403   403   403   403", token="recused_blind_token"),
    # Reviewers' pages: only the reviews assigned to them, blind, and none they stepped away from.
    page("reviews:index",                                 "in    404   404   404   404   ok    404   404   404   403"),
    page("reviews:review",                                "in    404   404   404   404   ok    404   404   404   403", assignment_id="assignment"),
    page("reviews:review",                                "in    404   404   404   404   ok    404   404   404   403", "POST", assignment_id="assignment"),
    page("reviews:review",                                "in    404   404   404   404   ok    404   404   404   403", assignment_id="published_assignment"),
    page("reviews:review",                                "in    404   404   404   404   404   404   404   404   403", assignment_id="recused_assignment"),
    page("reviews:watched",                               "in    404   404   404   404   ok    404   404   404   403", "POST", assignment_id="assignment"),
    page("reviews:recuse",                                "in    404   404   404   404   ok    404   404   404   403", "POST", assignment_id="assignment"),
    page("reviews:conflict_add",                          "in    404   404   404   404   ok    404   404   404   403", "POST"),
    page("reviews:conflict_remove",                       "in    404   404   404   404   ok    404   404   404   403", "POST", conflict_id="conflict"),
    # The programme's admins run its calls; another programme's admin reaches none of them, even under their own slug.
    page("competition_manage:calls",                      "in    404   404   404   404   404   ok    404   404   403", slug="slug"),
    page("competition_manage:calls",                      "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug"),
    page("competition_manage:call",                       "in    404   404   404   404   404   ok    404   404   403", slug="slug", call_id="call"),
    page("competition_manage:call",                       "in    404   404   404   404   404   404   404   404   403", slug="other_slug", call_id="call"),
    page("competition_manage:call_edit",                  "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", call_id="call"),
    page("competition_manage:call_edit",                  "in    404   404   404   404   404   404   404   404   403", "POST", slug="other_slug", call_id="call"),
    page("competition_manage:announce",                   "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", call_id="call"),
    page("competition_manage:criterion_add",              "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", call_id="call"),
    page("competition_manage:criterion_edit",             "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", call_id="call", criterion_id="criterion"),
    page("competition_manage:criterion_edit",             "in    404   404   404   404   404   404   404   404   403", "POST", slug="slug", call_id="published_call", criterion_id="criterion"),
    page("competition_manage:criterion_remove",           "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", call_id="call", criterion_id="criterion"),
    page("competition_manage:assign",                     "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", call_id="call"),
    page("competition_manage:publish",                    "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", call_id="call"),
    page("competition_manage:publish",                    "in    404   404   404   404   404   404   404   404   403", "POST", slug="other_slug", call_id="call"),
    page("competition_manage:appeal_answer",              "in    404   404   404   404   404   ok    404   404   403", "POST", slug="slug", call_id="published_call", appeal_id="appeal"),
    page("competition_manage:appeal_answer",              "in    404   404   404   404   404   404   404   404   403", "POST", slug="slug", call_id="call", appeal_id="appeal"),
    page("leaks:list",                                    "in    404   404   404   404   404   ok    404   ok    403"),
    page("leaks:decide",                                  "in    404   404   404   404   404   ok    404   404   403", "POST", alert_id="alert"),
    page("trace:upload",                                  "in    404   404   404   404   404   ok    404   ok    403"),
    page("trace:upload",                                  "in    404   404   404   404   404   ok    404   ok    403", "POST"),
    # The API: signed-in sessions here (tokens: tests/access/test_tokens.py). Other people's objects are 404.
    page("api-root",                                      "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("api-schema",                                    "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("api-docs",                                      "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    page("api-redoc",                                     "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("api-quota", "GET",                               "401   404   ok    ok    ok    404   404   404   404   403"),
    # Uploading an image for a creative mode: anyone who may render (the empty body is a 400, which is "ok").
    api("api-uploads", "POST",                            "401   403   ok    ok    ok    403   403   403   403   403"),
    api("job-list", "GET",                                "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("job-list", "POST",                               "401   403   ok    ok    ok    403   403   403   403   403", data=JOB),
    # Tokens only (scripts poll it; pages poll their own): a session is not enough. Tokens: test_progress_path.py.
    api("api-job-progress", "GET",                        "401   401   401   401   401   401   401   401   401   403", job_id="clip"),
    api("job-detail", "GET",                              "401   404   ok    404   404   404   404   404   404   403", pk="clip"),
    api("job-detail", "DELETE",                           "401   404   ok    404   404   404   404   404   404   403", pk="clip"),
    api("job-cancel", "POST",                             "401   404   ok    404   404   404   404   404   404   403", pk="queued_job"),
    api("job-remix", "POST",                              "401   404   ok    404   404   404   404   404   404   403", pk="clip"),
    api("job-favourite", "POST",                          "401   404   ok    404   404   404   404   404   404   403", pk="clip"),
    api("job-favourite", "DELETE",                        "401   404   ok    404   404   404   404   404   404   403", pk="clip"),
    api("collection-list", "GET",                         "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("collection-list", "POST",                        "401   ok    ok    ok    ok    ok    ok    ok    ok    403", data={"name": "New"}),
    api("collection-detail", "GET",                       "401   404   ok    404   404   404   404   404   404   403", pk="collection"),
    api("collection-detail", "PATCH",                     "401   404   ok    404   404   404   404   404   404   403", data={"name": "Renamed"}, pk="collection"),
    api("collection-detail", "DELETE",                    "401   404   ok    404   404   404   404   404   404   403", pk="collection"),
    api("collection-clips", "GET",                        "401   404   ok    404   404   404   404   404   404   403", pk="collection"),
    api("collection-clips", "POST",                       "401   404   ok    404   404   404   404   404   404   403", pk="collection"),
    api("collection-clip", "DELETE",                      "401   404   ok    404   404   404   404   404   404   403", pk="collection", job_id="clip"),
    api("model-list", "GET",                              "401   404   ok    ok    ok    404   404   404   404   403"),
    # Tracing clips: programme admins only (other_admin traces too, but never sees another programme's job).
    api("api-traces", "POST",                             "401   403   403   403   403   403   ok    403   ok    403"),
    api("audit-list", "GET",                              "401   403   403   403   403   403   ok    403   ok    403"),
    api("audit-detail", "GET",                            "401   403   403   403   403   403   ok    403   404   403", pk="audit_event"),
    api("preset-list", "GET",                             "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("preset-list", "POST",                            "401   ok    ok    ok    ok    ok    ok    ok    ok    403", data=PRESET),
    api("preset-detail", "GET",                           "401   404   ok    404   404   404   404   404   404   403", pk="preset"),
    api("preset-detail", "DELETE",                        "401   404   ok    404   404   404   404   404   404   403", pk="preset"),
    api("feedback-rating-list", "GET",                    "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("feedback-rating-list", "POST",                   "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("feedback-rating-detail", "GET",                  "401   404   ok    404   404   404   404   404   404   403", pk="rating"),
    api("feedback-report-list", "GET",                    "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("feedback-report-list", "POST",                   "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("feedback-report-detail", "GET",                  "401   404   ok    404   404   404   404   404   404   403", pk="report"),
    api("feedback-report-comments", "POST",               "401   404   ok    404   404   404   404   404   404   403", pk="report"),
    api("feedback-ledger-list", "GET",                    "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("feedback-ledger-detail", "GET",                  "401   404   ok    404   404   404   404   404   404   403", pk="ledger_entry"),
    api("feedback-ledger-statement", "GET",               "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    # Competition API: calls open to you or run by you, your own entries, the reviews assigned to you (blind).
    api("competition-call-list", "GET",                   "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("competition-call-detail", "GET",                 "401   404   ok    ok    404   404   ok    404   404   403", pk="call"),
    api("competition-call-detail", "GET",                 "401   404   404   404   404   404   ok    404   404   403", pk="draft_call"),
    api("competition-submission-list", "GET",             "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("competition-submission-detail", "GET",           "401   404   ok    404   404   404   404   404   404   403", pk="submission"),
    api("competition-review-list", "GET",                 "401   ok    ok    ok    ok    ok    ok    ok    ok    403"),
    api("competition-review-detail", "GET",               "401   404   404   404   404   ok    404   404   404   403", pk="assignment"),
    api("competition-review-detail", "GET",               "401   404   404   404   404   404   404   404   404   403", pk="recused_assignment"),
]

# Every door that signs a person in or vouches for them again, and what guards it: its second factor, its rate
# limits (allauth's actions in ACCOUNT_RATE_LIMITS, or a DRF throttle scope) and what is recorded or sent. Each URL
# is also a row of MATRIX above (who reaches it); README's security section says the same in words.
#     URL name (or "api-token")                second factor                             rate limits                    record and alert
DOORS = {
    "sign_in":                                ("TOTP for anyone who set it up",         ("login", "login_failed"),     "access.signed_in; email from a new network"),
    "account_login":                          ("TOTP for anyone who set it up",         ("login", "login_failed"),     "access.signed_in; email from a new network"),
    "admin:login":                            ("sends to sign_in, checks no password",  ("login", "login_failed"),     "access.signed_in; email from a new network"),
    "account_signup":                         ("none yet: staff set up TOTP next",      ("signup",),                   "access.signed_up; invitation only"),
    "account_confirm_email":                  ("the sign-in's own stages, TOTP too",    ("confirm_email",),            "access.signed_in"),
    "account_reset_password":                 ("never signs in",                        ("reset_password",),           "allauth's email to the address"),
    "account_reset_password_from_key":        ("never signs in",                        ("reset_password_from_key",),  "allauth's email to the address"),
    "mfa_authenticate":                       ("is the second factor",                  ("login_failed",),             "access.signed_in once passed"),
    "mfa_reauthenticate":                     ("is the second factor",                  ("login_failed",),             "allauth's record in the session"),
    "account_reauthenticate":                 ("password, within a session",            ("reauthenticate",),           "allauth's record in the session"),
    "account_request_reauthentication_code":  ("off here",                              ("reauthenticate",),           "-"),
    "account_confirm_reauthentication_code":  ("off here",                              ("reauthenticate",),           "-"),
    "account_confirm_login_code":             ("off here",                              ("request_login_code",),       "-"),
    "api-token":                              ("none: staff endpoints refuse tokens",   ("throttle:token",),           "last use and network; too many networks suspend it"),
}
# fmt: on


def _programme_admin(programme):
    return with_totp(member("padmin@example.org", programme=programme, role=Role.ADMIN))


def _staff():
    return with_totp(UserFactory(email="staff@example.org", is_staff=True))


def _other_admin():
    beta = programme_create(name="Beta")
    cohort_create(programme=beta, name="Beta wave")
    return with_totp(member("beta-admin@example.org", programme=beta, role=Role.ADMIN))


def _suspended(cohort, programme_admin):
    person = member("suspended@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    suspend(programme=cohort.programme, user=person, reason="Shared a login", actor=programme_admin)
    person.refresh_from_db()  # the suspension ended their sessions; they signed in again since
    return person


def _world(programme, cohort, tester, programme_admin, competition, other_admin, suspended):
    """One object of every kind a URL can name, owned by tester (or by tester's programme)."""
    clip = finished_clip(tester, programme=programme)
    # Made from an image and extended from another clip, so that a report on it shows both (feedback's doors).
    clip.image = stored_image(tester, colour=(200, 120, 40), width=64, height=64)
    clip.source = finished_clip(tester, programme=programme, seed=8)
    clip.save(update_fields=["image", "source"])
    report = reports.report_file(
        reporter=tester,
        kind="bug",
        title="Flicker",
        steps="Render",
        expected="calm",
        actual="flicker",
        job=clip,
        attachments=[SimpleUploadedFile("worker.log", b"step 1/2\nCUDA error\n")],
    )
    rating = ratings.rating_save(job=clip, author=tester, prompt_adherence=4, motion=3, visual_quality=4, artefacts=2)
    ratings.rating_decide(rating=rating, accept=True, actor=programme_admin)
    # A rate in force three days ago, so that the payout below has someone to pay (an empty one is refused).
    ContributionRate.objects.create(
        programme=programme,
        kind="bug",
        severity="",
        points=1,
        amount="2",
        currency="USD",
        effective_from=timezone.now() - timedelta(days=30),
    )
    ledger_credit(
        person=tester,
        programme=programme,
        kind="bug",
        source=report,
        reason="Confirmed bug",
        at=timezone.now() - timedelta(days=3),
    )
    yesterday = timezone.localdate() - timedelta(days=1)
    payout = payout_run(
        programme=programme,
        currency="USD",
        period_start=yesterday - timedelta(days=30),
        period_end=yesterday,
        actor=programme_admin,
    )
    invitation_token = "matrix-invitation-token"
    invitation = Invitation.objects.create(
        programme=programme,
        cohort=cohort,
        role=Role.ARTIST,
        email="new@example.org",
        token_digest=token_digest(invitation_token),
        invited_by=programme_admin,
        expires_at=timezone.now() + timedelta(days=7),
    )
    suspension = Suspension.objects.get(user=suspended)
    alert = alert_raise(
        kind=LeakAlert.Kind.NETWORKS, user=tester, credential=session_credential("gone"), session_key="gone", networks=5
    )
    token, _ = token_create(user=tester, name="laptop", scopes=["read"])
    version = model_versions.model_version_create(
        programme=programme, model_key="ltx-video", version="0.9.1", actor=programme_admin
    )
    collection = library.collection_create(owner=tester, name="Storms")
    library.collection_add(collection=collection, job=clip)
    return {
        "clip": clip.pk,
        "clip2": finished_clip(tester, programme=programme, prompt="a paper boat at dawn", seed=8).pk,
        "collection": collection.pk,
        "worker": Worker.objects.create(
            hostname="gpu0@matrix",
            started_at=timezone.now(),
            last_seen=timezone.now(),
            unhealthy_since=timezone.now(),
            health_reason="The model could not load.",
        ).pk,
        "queued_job": RenderJobFactory(owner=tester, grant=clip.grant, state="queued").pk,
        "media_token": media_url(clip).rstrip("/").rsplit("/", 1)[-1],
        "preset": preset_create(name="Mine", settings=PRESET, owner=tester, actor=tester).pk,
        "programme_preset": preset_create(name="House", settings=PRESET, programme=programme, actor=programme_admin).pk,
        "rule": prompt_rule_create(
            programme=programme, kind="term", text="forbidden thing", reason="No.", actor=programme_admin
        ).pk,
        "report": report.pk,
        "attachment": Attachment.objects.get(report=report).pk,
        "rating": rating.pk,
        "ledger_entry": LedgerEntry.objects.filter(person=tester).first().pk,
        "payout": payout.pk,
        "offer": showcase_offer(job=clip, artist=tester).pk,
        "version": model_versions.model_version_ship(model_version=version, actor=programme_admin).pk,
        "invitation": invitation.pk,
        "invitation_token": invitation_token,
        "suspension": suspension.pk,
        "alert": alert.pk,
        "token": token.pk,
        "audit_event": AuditEvent.objects.filter(programme=programme).order_by("pk").first().pk,
        "tester": tester.pk,
        "slug": programme.slug,
        "other_slug": other_admin.memberships.get().programme.slug,
        "cohort_slug": cohort.slug,
    } | competition


def _competition(programme, cohort, tester, tester2, reviewer, red_teamer, programme_admin):
    """An open call for Wave 1 with the tester's entry (a real MP4) assigned to the reviewer, who stepped away
    from tester2's and declared a conflict with the red teamer; a published call where the tester's entry was
    reviewed and appealed; and a draft call that only the admins see."""
    call = make_call(programme, programme_admin, cohorts=[cohort])
    entry = enter(call, tester, title="Moonrise")
    other = enter(call, tester2, title="Low tide")
    # The assignments a run at the close makes, while entries can still be edited: the review pages' guards
    # do not depend on the stage.
    reviews.assignment_run(call=call, actor=programme_admin, at=call.submissions_close_at)
    recused = reviews.review_recuse(
        assignment=ReviewAssignment.objects.get(submission=other, reviewer=reviewer),
        reviewer=reviewer,
        reason="I know who made this film.",
    )
    conflict = reviews.conflict_declare(reviewer=reviewer, programme=programme, email=red_teamer.email)
    draft = calls.call_create(
        programme=programme,
        actor=programme_admin,
        title="Next season",
        brief="Anything.",
        rules="Your own clips.",
        submissions_open_at=timezone.now() + timedelta(days=30),
        submissions_close_at=timezone.now() + timedelta(days=40),
        judging_ends_at=timezone.now() + timedelta(days=50),
        results_at=timezone.now() + timedelta(days=51),
    )

    published = make_call(programme, programme_admin, title="Dawn films")
    scored = enter(published, tester, title="First light")
    close(published)
    reviews.assignment_run(call=published, actor=programme_admin)
    review = ReviewAssignment.objects.get(call=published, reviewer=reviewer)
    watch_through(review)
    reviews.review_save(
        assignment=review,
        reviewer=reviewer,
        submit=True,
        scores={c.pk: (4, "Clear and bright.") for c in published.criteria.all()},
    )
    results.results_publish(call=published, actor=programme_admin)
    appeal = results.appeal_file(submission=scored, entrant=tester, text="Craft was judged against another brief.")

    def token(submission, viewer, blind):
        return film_url(submission, viewer=viewer, blind=blind).rstrip("/").rsplit("/", 1)[-1]

    return {
        "call": call.pk,
        "criterion": call.criteria.first().pk,
        "submission": entry.pk,
        "assignment": ReviewAssignment.objects.get(submission=entry, reviewer=reviewer).pk,
        "recused_assignment": recused.pk,
        "recused_blind_token": token(other, reviewer, blind=True),
        "conflict": conflict.pk,
        "draft_call": draft.pk,
        "published_call": published.pk,
        "published_assignment": review.pk,
        "appeal": appeal.pk,
        "film_token": token(entry, tester, blind=False),
        "blind_token": token(entry, reviewer, blind=True),
        "reviewer_original_token": token(entry, reviewer, blind=False),
    }


def _rates(programme, programme_admin):
    for kind in ("feedback", "bug"):
        rate_publish(
            programme=programme, kind=kind, severity="", points=1, amount="2", currency="USD", actor=programme_admin
        )


def _media_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def world_build() -> tuple[dict, dict]:
    """The standing cast (one person per role but anonymous) and one object of every kind a URL can name."""
    outsider = standing_outsider()
    programme = standing_programme()
    cohort = standing_cohort(programme)
    tester = standing_tester(cohort)
    tester2 = standing_tester2(cohort)
    red_teamer = standing_red_teamer(standing_red_team(programme))
    reviewer = standing_reviewer(programme)
    programme_admin = _programme_admin(programme)
    staff = _staff()
    other_admin = _other_admin()
    suspended = _suspended(cohort, programme_admin)
    _rates(programme, programme_admin)
    competition = _competition(programme, cohort, tester, tester2, reviewer, red_teamer, programme_admin)
    world = _world(programme, cohort, tester, programme_admin, competition, other_admin, suspended)
    people = {
        "outsider": outsider,
        "tester": tester,
        "tester2": tester2,
        "red_teamer": red_teamer,
        "reviewer": reviewer,
        "admin": programme_admin,
        "staff": staff,
        "other_admin": other_admin,
        "suspended": suspended,
    }
    return people, world


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker, media_root):
    """The cast and the world, built once for all roles: in a transaction held for the whole module and rolled
    back after it, each test running in a savepoint inside it (as Django's ``setUpTestData``). Returns the
    cast's ids, the world, and the files the world stored (deletions are not rolled back with the database)."""

    overrides = settings_for_tests(media_root, settings.STORAGES)
    with django_db_blocker.unblock(), override_settings(**overrides), transaction.atomic():
        cache.clear()
        before = _media_files(media_root)
        people, world = world_build()
        stored = {path: path.read_bytes() for path in _media_files(media_root) - before}
        yield {role: person.pk for role, person in people.items()}, world, stored
        transaction.set_rollback(True)


@pytest.fixture
def world(shared_world, db):
    """One object of every kind a URL can name, owned by tester (or by tester's programme); what a test deleted
    from storage is put back after it."""
    _, objects, stored = shared_world
    yield objects
    for path, data in stored.items():
        if not path.is_file() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@pytest.fixture
def cast(shared_world, world):
    """Each role's person, read afresh for each test."""
    people = get_user_model().objects.in_bulk(shared_world[0].values())
    return {"anonymous": None} | {role: people[pk] for role, pk in shared_world[0].items()}


def _outcome(response) -> str:
    if response.status_code in (301, 302, 303, 307, 308):
        location = response["Location"]
        if location.startswith(("/accounts/login/", "/admin/login/")):
            return "in"
        return "mfa" if location.startswith("/accounts/2fa/") else "ok"
    if response.status_code == 400 or 200 <= response.status_code < 300:
        return "ok"
    return str(response.status_code)


def _session_record_key(client: Client) -> str | None:
    """The cache key under which access.middleware.UserSessionsMiddleware notes that it recorded this session."""
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie and "access.session-seen:" + hashlib.sha256(cookie.value.encode()).hexdigest()


def _request(client: Client, row: Row, world: dict, person=None):
    kwargs = {name: world.get(value, value) for name, value in row.kwargs.items()}
    url = reverse(row.name, kwargs=kwargs)
    # Rate limits and throttles count per test elsewhere: every request starts from an empty cache but for what a
    # browsing person keeps there (that their allauth session record was written a moment ago, by the first
    # request; their standing, access/standing.py).
    keys = [_session_record_key(client), person and standing_key(get_user_model().objects.get(pk=person.pk))]
    kept = cache.get_many([key for key in keys if key])
    cache.clear()
    cache.set_many(kept)
    with transaction.atomic():
        if row.method == "GET":
            response = client.get(url)
        elif row.api:
            response = client.generic(row.method, url, data=json.dumps(row.data or {}), content_type="application/json")
        else:
            response = client.post(url, row.data or {})
        transaction.set_rollback(True)
    return response


# GETs first, then POSTs, then deletions: a deletion's files are not rolled back with the database.
ORDER = sorted(MATRIX, key=lambda row: (row.method != "GET", row.method == "DELETE" or "delete" in row.name))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_matrix_says(role, cast, world):
    def signed_in():
        client = Client(raise_request_exception=False)
        if cast[role] is not None:
            client.force_login(cast[role])
        return client

    client = signed_in()
    client.get(reverse("livez"))  # the session's first request writes its record, kept (not rolled back) from then on
    wrong = []
    for row in ORDER:
        response = _request(signed_in() if row.own_session else client, row, world, cast[role])
        expected, got = row.outcomes()[role], _outcome(response)
        if got != expected:
            wrong.append(
                f"{row.method} {row.name} {row.kwargs or ''}: expected {expected}, got {got} "
                f"({response.status_code} {response.get('Location', '')})"
            )
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


def _patterns(resolver=None, prefix="", namespace=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace]))
            yield from _patterns(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = entry.name and ":".join(filter(None, [namespace, entry.name]))
            yield prefix + str(entry.pattern), name, getattr(entry.callback, "__module__", "")


def _left_to_its_own_guard(route: str, module: str) -> bool:
    return module.startswith("allauth.") or route.startswith("admin/")


def test_every_url_pattern_is_in_the_matrix():
    listed = {row.name for row in MATRIX}
    missing = sorted(
        f"{route} ({name or 'unnamed'})"
        for route, name, module in _patterns()
        if not _left_to_its_own_guard(route, module) and name not in listed
    )
    assert missing == [], "add a row to MATRIX for each of these"


SIGN_IN_VIEWS = (
    "allauth.account.views._login",
    "allauth.account.views._signup",
    "allauth.account.views._reauthenticate",
    "allauth.account.views._password_reset",
    "allauth.account.views._email_verification",
    "allauth.mfa.base.views",
    "access.sign_in",
)
# Pages of those modules that sign nobody in: notes after the fact, and the second-factor overview.
NOT_DOORS = {
    "account_reset_password_done",
    "account_reset_password_from_key_done",
    "account_email_verification_sent",
    "mfa_index",
}


def test_every_sign_in_door_states_its_protection_and_is_in_the_matrix():
    from allauth.account import app_settings as allauth
    from django.conf import settings

    doors = {name for _, name, module in _patterns() if module.startswith(SIGN_IN_VIEWS) and name} | {"admin:login"}
    assert doors - NOT_DOORS - set(DOORS) == set(), "add each to DOORS with what guards it"
    listed = {row.name for row in MATRIX}
    throttles = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    for name, (_, limits, _) in DOORS.items():
        assert name == "api-token" or name in listed, f"{name}: add its MATRIX row"
        for limit in limits:
            configured = (
                throttles.get(limit.removeprefix("throttle:")) if ":" in limit else allauth.RATE_LIMITS.get(limit)
            )
            assert configured, f"{name}: rate limit {limit} is not set"


def test_every_api_endpoint_in_the_schema_is_in_the_matrix():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    listed = {(row.name, row.method) for row in MATRIX if row.api}
    endpoints = set()
    for path, operations in schema["paths"].items():
        concrete = path.replace("{id}", str(uuid.uuid4())).replace("{", "").replace("}", "")
        name = resolve(concrete).url_name
        endpoints |= {(name, method.upper()) for method in operations}
    assert endpoints - listed == set(), "add an api(...) row to MATRIX for each of these"
    assert {(name, method) for name, method in listed} - endpoints == set(), "rows for endpoints that do not exist"
