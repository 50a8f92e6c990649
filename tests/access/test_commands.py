"""The access management commands: invite, grant, suspend, revoke, pause_programme, resume_programme. They
go through the services, so they leave the same state and audit records; a dry run changes nothing."""

from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from access.models import AuditEvent, Grant, Invitation, Role, Suspension
from access.policy import may_use_site
from access.programmes import cohort_create, programme_create
from tests.conftest import member
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db

FUTURE = (timezone.localdate() + timedelta(days=30)).isoformat()
PAST = (timezone.localdate() - timedelta(days=1)).isoformat()
WAVE_1 = ["--programme", "alpha", "--cohort", "wave-1", "--role", "artist"]
TESS = ["--person", "tester@example.org", "--programme", "alpha"]
TESS_IN_BETA = ["--person", "tester@example.org", "--programme", "beta"]
NO_BETA = r"No programme with the slug 'beta'\. Programmes: alpha\."
WAVE_9 = ["--cohort", "wave-9", "--programme", "alpha"]
NO_WAVE_9 = r"No cohort 'wave-9' in Alpha\. Its cohorts: wave-1\."
NOBODY = ["--person", "x@x.org", "--programme", "alpha"]
ALPHA = ["--programme", "alpha"]


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a command as from the shell, with on-commit work (the emails) done; returns what it printed."""

    def run_command(name, *args):
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command(name, *args, stdout=out)
        return out.getvalue()

    return run_command


def _snapshot():
    """Everything a command might change, to show that a refused or dry run changed none of it."""
    return (
        list(AuditEvent.objects.values_list("pk", flat=True)),
        list(Invitation.objects.values_list("pk", "email", "expires_at")),
        list(Suspension.objects.values_list("pk", "lifted_at")),
        [grant.limits() | {"ends_at": grant.ends_at} for grant in Grant.objects.order_by("pk")],
    )


def _events(action):
    return AuditEvent.objects.filter(action=action)


# --- invite --------------------------------------------------------------------------------------


def test_invite_sends_each_address_an_invitation(cohort, run, mailoutbox):
    output = run("invite", *WAVE_1, "A@x.org", "b@y.org")

    invitations = Invitation.objects.order_by("email")
    assert [(i.email, i.role, i.cohort) for i in invitations] == [
        ("a@x.org", "artist", cohort),
        ("b@y.org", "artist", cohort),
    ]
    assert all(invitation.state == Invitation.State.SENT and invitation.send_count == 1 for invitation in invitations)
    events = _events("access.invitation_sent")
    assert sorted(events.values_list("target", flat=True)) == ["a@x.org", "b@y.org"]
    assert all(event.actor is None and event.programme == cohort.programme for event in events)
    assert sorted(message.to[0] for message in mailoutbox) == ["a@x.org", "b@y.org"]
    assert "Invited a@x.org" in output and "Invited b@y.org" in output
    assert "2 invited as artist to Wave 1 in Alpha" in output


def test_invite_finds_the_cohort_by_name_and_sets_the_expiry_in_days(cohort, run):
    run("invite", "--programme", "alpha", "--cohort", "wave 1", "--role", "artist", "--days", "3", "a@x.org")

    invitation = Invitation.objects.get()
    assert invitation.cohort == cohort
    assert invitation.expires_at - timezone.now() == pytest.approx(timedelta(days=3), abs=timedelta(minutes=1))


def test_invite_reads_every_address_in_a_csv_file(cohort, run, tmp_path, mailoutbox):
    emails_csv = tmp_path / "emails.csv"
    emails_csv.write_text(
        '\ufeffname,email,notes\nAnn Artist,ann@x.org,"prefers mornings, UTC"\nBo,bo@y.org,\n\nCy;cy@z.org\n'
    )

    run("invite", *WAVE_1, "--file", str(emails_csv))

    assert sorted(Invitation.objects.values_list("email", flat=True)) == ["ann@x.org", "bo@y.org", "cy@z.org"]
    assert len(mailoutbox) == 3


def test_invite_reads_a_plain_list_as_well_as_arguments(cohort, run, tmp_path):
    plain = tmp_path / "emails.txt"
    plain.write_text("ann@x.org\nbo@y.org\n")

    run("invite", *WAVE_1, "--file", str(plain), "cy@z.org")

    assert Invitation.objects.count() == 3


def test_invite_skips_addresses_already_invited(cohort, run, mailoutbox):
    run("invite", *WAVE_1, "a@x.org")
    mailoutbox.clear()

    output = run("invite", *WAVE_1, "a@x.org", "new@x.org")

    assert "Skipped a@x.org: already has an open invitation (resend it instead)" in output
    assert "Invited new@x.org" in output
    assert Invitation.objects.filter(email="a@x.org").count() == 1
    assert [message.to for message in mailoutbox] == [["new@x.org"]]


def test_invite_skips_members_invalid_and_repeated_addresses_with_their_reasons(tester, run, mailoutbox):
    output = run(
        "invite",
        *WAVE_1,
        "tester@example.org",
        "not-an-address",
        "a@x.org",
        "A@X.org",
    )

    assert "Skipped tester@example.org: already a member with this role" in output
    assert "Skipped not-an-address: not a valid email address" in output
    assert "Skipped A@X.org: listed twice" in output
    assert list(Invitation.objects.values_list("email", flat=True)) == ["a@x.org"]
    assert "1 invited as artist to Wave 1 in Alpha" in output and "3 skipped" in output


def test_invite_dry_run_says_who_would_be_invited_and_skipped_and_changes_nothing(tester, run, mailoutbox):
    before = _snapshot()

    output = run(
        "invite",
        *WAVE_1,
        "--dry-run",
        "tester@example.org",
        "a@x.org",
    )

    assert "Would invite a@x.org" in output
    assert "Would skip tester@example.org: already a member with this role" in output
    assert "nothing was saved or sent" in output
    assert _snapshot() == before
    assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_invite_records_the_admin_given_as_actor(cohort, admin_user, run):
    run(
        "invite",
        "--programme",
        "alpha",
        "--cohort",
        "wave-1",
        "--role",
        "artist",
        "--actor",
        admin_user.email,
        "a@x.org",
    )

    assert Invitation.objects.get().invited_by == admin_user
    assert _events("access.invitation_sent").get().actor == admin_user


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--programme", "beta", "--cohort", "wave-1"], NO_BETA),
        ([*ALPHA, "--cohort", "wave-9"], r"No cohort 'wave-9' in Alpha\. Its cohorts: red-team, wave-1"),
        (["--programme", "alpha"], "Choose the cohort that testers join"),
        (["--programme", "alpha", "--cohort", "wave-1", "--days", "0"], "Invitations last from 1 to 90 days"),
        ([*ALPHA, "--cohort", "wave-1", "--actor", "x@x.org"], r"No account with the address 'x@x\.org' \(--actor\)"),
    ],
)
def test_invite_refuses_bad_input_and_changes_nothing(cohort, red_team, run, mailoutbox, args, message):
    before = _snapshot()

    with pytest.raises(CommandError, match=message):
        run("invite", "--role", "artist", *args, "a@x.org")

    assert _snapshot() == before
    assert mailoutbox == []


def test_invite_refuses_an_unknown_role(cohort, run):
    with pytest.raises(CommandError, match="invalid choice: 'painter'"):
        run("invite", "--programme", "alpha", "--cohort", "wave-1", "--role", "painter", "a@x.org")
    assert not Invitation.objects.exists()


def test_invite_needs_an_address_and_a_readable_file(cohort, run, tmp_path):
    with pytest.raises(CommandError, match="No addresses"):
        run("invite", *WAVE_1)
    with pytest.raises(CommandError, match="Cannot read .*missing.csv"):
        run("invite", *WAVE_1, "--file", str(tmp_path / "missing.csv"))
    assert not Invitation.objects.exists()


# --- grant ---------------------------------------------------------------------------------------


def test_grant_prints_the_grant_and_its_usage(tester, run):
    grant = Grant.objects.get(user=tester)
    RenderJobFactory(owner=tester, grant=grant, state="succeeded", charged_seconds=42)
    RenderJobFactory(owner=tester, grant=grant, state="queued", charged_seconds=8)
    before = _snapshot()

    output = run("grant", "tester@example.org", "--programme", "alpha")

    assert "Grant for tester@example.org in Alpha (current)" in output
    assert "models: every model" in output
    assert "max frames: 257" in output
    assert "GPU seconds today: 50 of 100000" in output
    assert "GPU seconds in total: 50 of 1000000" in output
    assert "jobs waiting or running: 1 of 10" in output
    assert _snapshot() == before


def test_grant_changes_the_limits_and_records_before_and_after(tester, admin_user, run):
    output = run(
        "grant",
        "Tester@Example.org",
        "--programme",
        "alpha",
        "--max-frames",
        "97",
        "--gpu-seconds-per-day",
        "50",
        "--models",
        "ltx-video",
        "--no-downloads",
        "--ends",
        "2099-01-31T18:30",
        "--reason",
        "Wave 1 is over",
        "--actor",
        admin_user.email,
    )

    grant = Grant.objects.get(user=tester)
    assert (grant.max_frames, grant.gpu_seconds_per_day, grant.model_keys) == (97, 50, ["ltx-video"])
    assert grant.downloads_allowed is False
    assert grant.ends_at == timezone.make_aware(datetime(2099, 1, 31, 18, 30))
    event = _events("access.grant_changed").get()
    assert (event.actor, event.subject, event.reason) == (admin_user, tester, "Wave 1 is over")
    assert event.data["before"]["max_frames"] == 257 and event.data["after"]["max_frames"] == 97
    assert "Changed max_frames: 257 → 97" in output
    assert "downloads: not allowed" in output


def test_grant_ends_never_removes_the_end_date_and_models_all_allows_every_model(tester, run):
    Grant.objects.filter(user=tester).update(ends_at=timezone.now() + timedelta(days=1), model_keys=["ltx-video"])

    run("grant", "tester@example.org", "--programme", "alpha", "--ends", "never", "--models", "all")

    grant = Grant.objects.get(user=tester)
    assert (grant.ends_at, grant.model_keys) == (None, [])
    assert _events("access.grant_changed").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@x.org", "--programme", "alpha", "--max-frames", "9"], r"No account with the address 'nobody@x\.org'"),
        (["outsider@example.org", "--programme", "alpha", "--max-frames", "9"], "outsider@example.org has no grant"),
        (["tester@example.org", "--programme", "beta", "--max-frames", "9"], NO_BETA),
        (["tester@example.org", "--programme", "alpha", "--ends", "31/01/2099"], r"'31/01/2099' is not a date; write"),
        (["tester@example.org", "--programme", "alpha", "--models", "sora"], "unknown model 'sora'; models: ltx-video"),
        (["tester@example.org", "--programme", "alpha", "--max-frames", "-1"], "greater than or equal to 0"),
        (["tester@example.org", "--programme", "alpha", "--ends", PAST], "A grant must end after it starts"),
        (["tester@example.org", "--programme", "alpha", "--reason", "why not"], "Nothing to change"),
    ],
)
def test_grant_refuses_bad_input_and_changes_nothing(tester, outsider, run, args, message):
    before = _snapshot()

    with pytest.raises(CommandError, match=message):
        run("grant", *args)

    assert _snapshot() == before


# --- suspend -------------------------------------------------------------------------------------


def test_suspend_cuts_a_person_off_and_tells_them(tester, tester2, run, mailoutbox):
    epoch = tester.session_epoch

    output = run("suspend", "--person", "tester@example.org", "--programme", "alpha", "--reason", "Shared account")

    suspension = Suspension.objects.get()
    assert (suspension.scope, suspension.kind, suspension.user) == ("person", "suspension", tester)
    assert suspension.created_by is None and suspension.ends_at is None
    tester.refresh_from_db()
    assert tester.session_epoch == epoch + 1
    assert not may_use_site(tester) and may_use_site(tester2)
    event = _events("access.suspension_started").get()
    assert (event.subject, event.reason, event.actor) == (tester, "Shared account", None)
    assert [message.to for message in mailoutbox] == [["tester@example.org"]]
    assert "Suspended tester@example.org in Alpha: 1 person lost access" in output


def test_suspend_a_cohort_until_a_date_cuts_off_every_member(tester, tester2, red_teamer, admin_user, run, mailoutbox):
    output = run(
        "suspend",
        "--cohort",
        "wave-1",
        "--programme",
        "alpha",
        "--reason",
        "Leaked clips",
        "--until",
        FUTURE,
        "--actor",
        "admin@example.org",
    )

    suspension = Suspension.objects.get()
    assert (suspension.scope, suspension.cohort.slug, suspension.created_by) == ("cohort", "wave-1", admin_user)
    assert suspension.ends_at == timezone.make_aware(datetime.fromisoformat(FUTURE))
    assert not may_use_site(tester) and not may_use_site(tester2) and may_use_site(red_teamer)
    assert _events("access.suspension_started").get().actor == admin_user
    assert sorted(message.to[0] for message in mailoutbox) == ["tester2@example.org", "tester@example.org"]
    assert "the cohort Wave 1 in Alpha until" in output and "2 people lost access" in output


def test_suspend_dry_run_lists_the_people_of_a_cohort_and_changes_nothing(tester, tester2, red_teamer, run, mailoutbox):
    before = _snapshot()

    output = run("suspend", "--cohort", "Wave 1", "--programme", "alpha", "--reason", "Leaked clips", "--dry-run")

    assert "Would suspend the cohort Wave 1 in Alpha: 2 people would lose access" in output
    assert "  tester@example.org" in output and "  tester2@example.org" in output
    assert "redteam@example.org" not in output
    assert _snapshot() == before
    assert may_use_site(tester)
    assert mailoutbox == []


def test_suspend_programme_wide_pauses_the_programme(tester, admin_user, run):
    run("suspend", "--programme-wide", "--programme", "alpha", "--reason", "Model recall")

    assert Suspension.objects.get().kind == Suspension.Kind.PAUSE
    assert _events("access.pause_started").exists()
    assert not may_use_site(tester) and may_use_site(admin_user)


def test_suspend_lift_gives_access_back_and_tells_them(tester, run, mailoutbox):
    run("suspend", "--person", "tester@example.org", "--programme", "alpha", "--reason", "Shared account")
    mailoutbox.clear()

    output = run(
        "suspend", "--person", "tester@example.org", "--programme", "alpha", "--lift", "--reason", "Sorted out"
    )

    suspension = Suspension.objects.get()
    assert suspension.lifted_at is not None and suspension.lift_reason == "Sorted out"
    assert may_use_site(tester)
    event = _events("access.suspension_lifted").get()
    assert (event.subject, event.reason) == (tester, "Sorted out")
    assert [message.to for message in mailoutbox] == [["tester@example.org"]]
    assert "Lifted: Suspension of tester@example.org in Alpha" in output


def test_suspend_lift_dry_run_changes_nothing(tester, run, mailoutbox):
    run("suspend", "--person", "tester@example.org", "--programme", "alpha", "--reason", "Shared account")
    mailoutbox.clear()
    before = _snapshot()

    output = run("suspend", "--person", tester.email, "--programme", "alpha", "--lift", "--reason", "Ok", "--dry-run")

    assert "Would lift: Suspension of tester@example.org" in output
    assert _snapshot() == before
    assert not may_use_site(tester)
    assert mailoutbox == []


def test_suspend_lift_leaves_a_revocation_in_place(tester, run):
    run("revoke", "--person", "tester@example.org", "--programme", "alpha", "--reason", "Broke the terms")
    before = _snapshot()

    with pytest.raises(CommandError, match="There is no active suspension of tester@example.org in Alpha"):
        run("suspend", "--person", "tester@example.org", "--programme", "alpha", "--lift", "--reason", "Undo")

    assert _snapshot() == before
    assert not may_use_site(tester)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*TESS_IN_BETA, "--reason", "x"], NO_BETA),
        ([*WAVE_9, "--reason", "x"], NO_WAVE_9),
        ([*NOBODY, "--reason", "x"], r"No account with the address 'x@x\.org' \(--person\)"),
        (TESS, "the following arguments are required: --reason"),
        ([*TESS, "--reason", "  "], "say why"),
        ([*TESS, "--reason", "x", "--until", "next week"], "'next week' is not a date"),
        ([*TESS, "--reason", "x", "--until", "2099-02-30"], "'2099-02-30' is not a date"),
        ([*TESS, "--reason", "x", "--until", PAST], "The end time must be in the future"),
        ([*TESS, "--reason", "x", "--until", PAST, "--dry-run"], "The end time must be in the future"),
        ([*ALPHA, "--reason", "x"], "one of the arguments --person --cohort --programme-wide is required"),
        ([*TESS, "--cohort", "wave-1", "--reason", "x"], "not allowed with argument"),
        ([*TESS, "--reason", "x", "--lift"], "There is no active suspension"),
        ([*TESS, "--reason", "x", "--lift", "--until", FUTURE], "--until cannot be used with --lift"),
    ],
)
def test_suspend_refuses_bad_input_and_changes_nothing(tester, run, mailoutbox, args, message):
    before = _snapshot()

    with pytest.raises(CommandError, match=message):
        run("suspend", *args)

    assert _snapshot() == before
    assert may_use_site(tester)
    assert mailoutbox == []


# --- revoke --------------------------------------------------------------------------------------


def test_revoke_takes_a_persons_access_for_good(tester, tester2, run, mailoutbox):
    output = run("revoke", "--person", "tester@example.org", "--programme", "alpha", "--reason", "Broke the terms")

    suspension = Suspension.objects.get()
    assert (suspension.kind, suspension.user, suspension.ends_at) == ("revocation", tester, None)
    assert not may_use_site(tester) and may_use_site(tester2)
    assert _events("access.revocation_started").get().subject == tester
    assert [message.to for message in mailoutbox] == [["tester@example.org"]]
    assert "Revoked the access of tester@example.org in Alpha: 1 person lost access" in output


def test_revoke_a_cohort_takes_every_members_access(tester, tester2, red_teamer, run, mailoutbox):
    run("revoke", "--cohort", "wave-1", "--programme", "alpha", "--reason", "Wave closed")

    assert Suspension.objects.get().scope == Suspension.Scope.COHORT
    assert not may_use_site(tester) and not may_use_site(tester2) and may_use_site(red_teamer)
    assert _events("access.revocation_started").get().data["affected"] == 2
    assert len(mailoutbox) == 2


def test_revoke_dry_run_lists_the_people_and_changes_nothing(tester, tester2, run, mailoutbox):
    before = _snapshot()

    output = run("revoke", "--cohort", "wave-1", "--programme", "alpha", "--reason", "Wave closed", "--dry-run")

    assert "Would revoke the access of the cohort Wave 1 in Alpha: 2 people would lose access" in output
    assert "  tester@example.org" in output and "  tester2@example.org" in output
    assert _snapshot() == before
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*TESS_IN_BETA, "--reason", "x"], NO_BETA),
        ([*WAVE_9, "--reason", "x"], NO_WAVE_9),
        ([*NOBODY, "--reason", "x"], r"No account with the address 'x@x\.org'"),
        (TESS, "the following arguments are required: --reason"),
        ([*TESS, "--reason", "x", "--until", FUTURE], "unrecognized arguments: --until"),
    ],
)
def test_revoke_refuses_bad_input_and_changes_nothing(tester, run, mailoutbox, args, message):
    before = _snapshot()

    with pytest.raises(CommandError, match=message):
        run("revoke", *args)

    assert _snapshot() == before
    assert mailoutbox == []


# --- pause_programme and resume_programme --------------------------------------------------------


def test_pause_programme_shuts_out_every_tester_but_not_the_admins(tester, red_teamer, admin_user, run, mailoutbox):
    output = run("pause_programme", "--programme", "alpha", "--reason", "Model recall", "--until", FUTURE)

    pause = Suspension.objects.get()
    assert (pause.scope, pause.kind) == ("programme", "pause")
    assert pause.ends_at == timezone.make_aware(datetime.fromisoformat(FUTURE))
    assert not may_use_site(tester) and not may_use_site(red_teamer) and may_use_site(admin_user)
    event = _events("access.pause_started").get()
    assert (event.reason, event.data["affected"]) == ("Model recall", 2)
    assert sorted(message.to[0] for message in mailoutbox) == ["redteam@example.org", "tester@example.org"]
    assert "Paused the programme Alpha until" in output and "2 people lost access" in output


def test_pause_programme_dry_run_says_how_many_would_be_affected(tester, tester2, admin_user, run, mailoutbox):
    before = _snapshot()

    output = run("pause_programme", "--programme", "alpha", "--reason", "Model recall", "--dry-run")

    assert "Would pause the programme Alpha: 2 people would lose access" in output
    assert _snapshot() == before
    assert may_use_site(tester)
    assert mailoutbox == []


def test_resume_programme_lifts_the_pause(tester, run, mailoutbox):
    run("pause_programme", "--programme", "alpha", "--reason", "Model recall")
    mailoutbox.clear()

    output = run("resume_programme", "--programme", "alpha", "--reason", "Fixed")

    pause = Suspension.objects.get()
    assert pause.lifted_at is not None and pause.lift_reason == "Fixed"
    assert may_use_site(tester)
    assert _events("access.pause_lifted").get().reason == "Fixed"
    assert [message.to for message in mailoutbox] == [["tester@example.org"]]
    assert "Lifted the pause of Alpha since" in output and "(Model recall)" in output


def test_resume_programme_refuses_when_the_programme_is_not_paused(tester, run):
    before = _snapshot()

    with pytest.raises(CommandError, match="Alpha is not paused"):
        run("resume_programme", "--programme", "alpha", "--reason", "Fixed")

    assert _snapshot() == before


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("pause_programme", ["--programme", "beta", "--reason", "x"], NO_BETA),
        ("pause_programme", ["--programme", "alpha"], "the following arguments are required: --reason"),
        ("pause_programme", [*ALPHA, "--reason", "x", "--until", "tomorrow"], "'tomorrow' is not a date"),
        ("pause_programme", [*ALPHA, "--reason", "x", "--until", PAST], "The end time must be in the future"),
        ("pause_programme", [*ALPHA, "--reason", "x", "--actor", "x@x.org"], r"No account .*\(--actor\)"),
        ("resume_programme", ["--programme", "beta", "--reason", "x"], NO_BETA),
        ("resume_programme", ["--programme", "alpha"], "the following arguments are required: --reason"),
    ],
)
def test_pause_and_resume_refuse_bad_input_and_change_nothing(tester, run, mailoutbox, command, args, message):
    before = _snapshot()

    with pytest.raises(CommandError, match=message):
        run(command, *args)

    assert _snapshot() == before
    assert may_use_site(tester)
    assert mailoutbox == []


def test_a_person_in_another_programme_is_not_counted_in_a_pause(tester, run):
    beta = programme_create(name="Beta")
    member("beta@example.org", programme=beta, role=Role.ARTIST, cohort=cohort_create(programme=beta, name="One"))

    output = run("pause_programme", "--programme", "alpha", "--reason", "Model recall", "--dry-run")

    assert "1 person would lose access" in output
