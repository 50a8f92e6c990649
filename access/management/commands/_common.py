"""Argument types, lookups and printing shared by the access commands (Django skips modules whose name
starts with an underscore, so this is not a command). No rules live here: the services decide."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from access.models import Cohort, Programme, Suspension
from access.suspensions import pause, reinstate, revoke, suspend, suspension_affected_users, suspension_build

WHEN_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M")
WHEN_HELP = "YYYY-MM-DD or YYYY-MM-DDTHH:MM in the site's time zone; a date alone means the start of that day"


# --- Argument types and options ------------------------------------------------------------------


def when(value: str) -> datetime:
    """A date, or a date and time, as an aware datetime in the current time zone."""
    for date_format in WHEN_FORMATS:
        try:
            return timezone.make_aware(datetime.strptime(value.strip(), date_format))
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{value!r} is not a date; write YYYY-MM-DD or YYYY-MM-DDTHH:MM")


def reason_text(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("say why; the reason is kept in the audit trail")
    return value.strip()


def add_programme_argument(parser) -> None:
    parser.add_argument("--programme", required=True, metavar="SLUG", help="The programme, by slug.")


def add_reason_argument(parser, help_text: str) -> None:
    parser.add_argument("--reason", required=True, type=reason_text, metavar="TEXT", help=help_text)


def add_person_or_cohort_arguments(parser, *, person: str, cohort: str):
    """``--person`` or ``--cohort``, one of them required; returns the group, for more choices."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--person", metavar="EMAIL", help=person)
    target.add_argument("--cohort", metavar="SLUG", help=cohort)
    return target


def add_dry_run_argument(parser, help_text: str = "Say who would be affected; change nothing.") -> None:
    parser.add_argument("--dry-run", action="store_true", help=help_text)


def add_actor_argument(parser) -> None:
    parser.add_argument(
        "--actor", metavar="EMAIL", help="The admin account to record as having done this (default: none, the shell)."
    )


# --- Lookups: each names what was not found --------------------------------------------------------


def programme_get(slug: str) -> Programme:
    programme = Programme.objects.filter(slug=slug).first()
    if programme is None:
        slugs = ", ".join(Programme.objects.order_by("slug").values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No programme with the slug {slug!r}. Programmes: {slugs}.")
    return programme


def cohort_get(programme: Programme, slug_or_name: str) -> Cohort:
    cohorts = Cohort.objects.filter(programme=programme)
    cohort = cohorts.filter(Q(slug=slug_or_name) | Q(name__iexact=slug_or_name.strip())).first()
    if cohort is None:
        slugs = ", ".join(cohorts.order_by("slug").values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No cohort {slug_or_name!r} in {programme.name}. Its cohorts: {slugs}.")
    return cohort


def user_get(email: str, *, option: str = "--person"):
    user = get_user_model().objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise CommandError(f"No account with the address {email!r} ({option}).")
    return user


def target_get(programme_slug: str, person: str | None, cohort: str | None) -> tuple[Programme, object, Cohort | None]:
    """The programme, and the person or cohort in it that ``--person``/``--cohort`` name (None where not named)."""
    programme = programme_get(programme_slug)
    return programme, user_get(person) if person else None, cohort_get(programme, cohort) if cohort else None


def actor_get(email: str | None):
    return user_get(email, option="--actor") if email else None


@contextmanager
def service_errors():
    """A service's ValidationError, as a CommandError carrying its messages."""
    try:
        yield
    except ValidationError as error:
        raise CommandError(" ".join(messages(error))) from None


def messages(error: ValidationError) -> list[str]:
    if hasattr(error, "message_dict"):
        return [message for field_messages in error.message_dict.values() for message in field_messages]
    return list(error.messages)


def local(value: datetime | None, empty: str = "no end") -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M %Z}" if value else empty


# --- Suspensions, revocations and pauses ---------------------------------------------------------


def target_label(*, programme: Programme, user=None, cohort: Cohort | None = None) -> str:
    if user is not None:
        return f"{user.email} in {programme.name}"
    if cohort is not None:
        return f"the cohort {cohort.name} in {programme.name}"
    return f"the programme {programme.name}"


VERBS = {
    Suspension.Kind.SUSPENSION: "suspend",
    Suspension.Kind.REVOCATION: "revoke the access of",
    Suspension.Kind.PAUSE: "pause",
}
PAST = {
    Suspension.Kind.SUSPENSION: "Suspended",
    Suspension.Kind.REVOCATION: "Revoked the access of",
    Suspension.Kind.PAUSE: "Paused",
}


class AccessCommand(BaseCommand):
    """Taking access away (suspend, revoke, pause) and giving it back, through the services."""

    def take_away(self, *, dry_run: bool = False, **target) -> None:
        """``target``: what ``suspension_build`` takes (programme, scope, kind, reason, actor, user, cohort,
        ends_at)."""
        scope, ends_at = target["scope"], target.get("ends_at")
        label = target_label(programme=target["programme"], user=target.get("user"), cohort=target.get("cohort"))
        with service_errors():
            # Checked by every rule first (a dry run stops there), then done by the verb it names.
            suspension = suspension_build(**target)
            if not dry_run:
                suspension = _carry_out(suspension, reason=target["reason"])
        affected = list(suspension_affected_users(suspension).order_by("email"))
        until = f" until {local(ends_at)}" if ends_at else ""
        if dry_run:
            self.stdout.write(f"Would {VERBS[suspension.kind]} {label}{until}: {_people(affected)} would lose access.")
        else:
            self.stdout.write(
                self.style.SUCCESS(f"{PAST[suspension.kind]} {label}{until}: {_people(affected)} lost access.")
            )
        if scope != Suspension.Scope.PROGRAMME:
            for person in affected:
                self.stdout.write(f"  {person.email}")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed and no one was told.")

    def give_back(
        self,
        *,
        programme: Programme,
        scope: str,
        reason: str,
        actor=None,
        user=None,
        cohort: Cohort | None = None,
        dry_run: bool = False,
    ) -> None:
        """Lift the active suspensions (or pause) of one target. Revocations are not lifted here."""
        label = target_label(programme=programme, user=user, cohort=cohort)
        suspensions = list(
            Suspension.objects.active()
            .filter(programme=programme, scope=scope, user=user, cohort=cohort)
            .exclude(kind=Suspension.Kind.REVOCATION)
            .order_by("created_at")
        )
        if not suspensions:
            noun = "pause" if scope == Suspension.Scope.PROGRAMME else "suspension"
            raise CommandError(f"There is no active {noun} of {label}; nothing was changed.")
        if not dry_run:
            with service_errors(), transaction.atomic():
                for suspension in suspensions:
                    reinstate(suspension=suspension, actor=actor, reason=reason)
        for suspension in suspensions:
            line = (
                f"{suspension.get_kind_display()} of {label} since {local(suspension.starts_at)} ({suspension.reason})"
            )
            self.stdout.write(f"Would lift: {line}" if dry_run else self.style.SUCCESS(f"Lifted: {line}"))
        if dry_run:
            self.stdout.write("Dry run: nothing was changed and no one was told.")


def _carry_out(built: Suspension, *, reason: str) -> Suspension:
    """Do what ``built`` describes through the verb of its kind."""
    common = {"programme": built.programme, "reason": reason, "actor": built.created_by}
    if built.kind == Suspension.Kind.PAUSE:
        return pause(**common, ends_at=built.ends_at)
    if built.kind == Suspension.Kind.REVOCATION:
        return revoke(**common, user=built.user, cohort=built.cohort)
    return suspend(**common, user=built.user, cohort=built.cohort, ends_at=built.ends_at)


def _people(users: list) -> str:
    return "1 person" if len(users) == 1 else f"{len(users)} people"
