import argparse
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from access import hooks
from access.grants import grant_update
from access.management.commands._common import (
    WHEN_HELP,
    actor_get,
    add_actor_argument,
    add_programme_argument,
    local,
    programme_get,
    service_errors,
    user_get,
    when,
)
from access.models import Grant

UNCHANGED = object()

LIMIT_OPTIONS = (  # (option, Grant field, help)
    ("--max-frames", "max_frames", "Most frames in one clip."),
    ("--max-width", "max_width", "Widest frame, in pixels."),
    ("--max-height", "max_height", "Tallest frame, in pixels."),
    ("--max-steps", "max_steps", "Most denoising steps."),
    ("--gpu-seconds-per-day", "gpu_seconds_per_day", "GPU seconds a day."),
    ("--gpu-seconds-total", "gpu_seconds_total", "GPU seconds over the grant's life."),
    ("--max-queued-jobs", "max_queued_jobs", "Jobs waiting or running at once."),
)
CHANGE_FIELDS = (*(field for _, field, _ in LIMIT_OPTIONS), "model_keys", "downloads_allowed", "ends_at")


def model_keys(value: str) -> list[str]:
    if value.strip().lower() == "all":
        return []
    keys = [key.strip() for key in value.split(",") if key.strip()]
    known = hooks.model_keys()
    unknown = [key for key in keys if key not in known]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown model {', '.join(unknown) or value!r}; models: {', '.join(known)}, or 'all'"
        )
    return keys


def ends(value: str):
    return None if value.strip().lower() == "never" else when(value)


class Command(BaseCommand):
    help = (
        "Show a person's grant in a programme and what it has used, or change it. "
        "Every change is recorded in the audit trail with its before and after."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", metavar="EMAIL")
        add_programme_argument(parser)
        for option, field, help_text in LIMIT_OPTIONS:
            parser.add_argument(option, dest=field, type=int, metavar="N", default=UNCHANGED, help=help_text)
        parser.add_argument(
            "--models",
            dest="model_keys",
            type=model_keys,
            default=UNCHANGED,
            metavar="KEYS",
            help=f"Models allowed, comma-separated ({', '.join(hooks.model_keys())}), or 'all' for every model.",
        )
        parser.add_argument(
            "--downloads",
            dest="downloads_allowed",
            action=argparse.BooleanOptionalAction,
            default=UNCHANGED,
            help="Allow (or with --no-downloads, forbid) downloading clips.",
        )
        parser.add_argument(
            "--ends",
            dest="ends_at",
            type=ends,
            default=UNCHANGED,
            metavar="WHEN",
            help=f"When the grant ends ({WHEN_HELP}), or 'never'.",
        )
        parser.add_argument("--reason", default="", metavar="TEXT", help="Why it changed; kept in the audit trail.")
        add_actor_argument(parser)

    def handle(self, *args, email, programme, reason, actor, **options):
        programme = programme_get(programme)
        user = user_get(email, option="EMAIL")
        grant = Grant.objects.filter(user=user, programme=programme).first()
        if grant is None:
            raise CommandError(f"{user.email} has no grant in {programme.name}.")
        changes = {field: options[field] for field in CHANGE_FIELDS if options[field] is not UNCHANGED}
        if changes:
            before = {field: getattr(grant, field) for field in changes}
            with service_errors():
                grant = grant_update(grant=grant, actor=actor_get(actor), reason=reason.strip(), **changes)
            for field, value in changes.items():
                self.stdout.write(self.style.SUCCESS(f"Changed {field}: {_show(before[field])} → {_show(value)}"))
        elif reason:
            raise CommandError("Nothing to change: --reason goes with an option that changes the grant.")
        self._print(grant)

    def _print(self, grant: Grant) -> None:
        usage = hooks.grant_usage(grant)
        state = "current" if grant.is_current() else "not current"
        self.stdout.write(f"Grant for {grant.user.email} in {grant.programme.name} ({state})")
        self.stdout.write(f"  from {local(grant.starts_at)} to {local(grant.ends_at)}")
        self.stdout.write(f"  models: {_show(grant.model_keys)}")
        for option, field, _ in LIMIT_OPTIONS[:4]:
            self.stdout.write(f"  {option[2:].replace('-', ' ')}: {getattr(grant, field)}")
        self.stdout.write(f"  downloads: {_show(grant.downloads_allowed)}")
        self.stdout.write("Usage")
        self.stdout.write(f"  GPU seconds today: {usage['seconds_today']:.0f} of {grant.gpu_seconds_per_day}")
        self.stdout.write(f"  GPU seconds in total: {usage['seconds_total']:.0f} of {grant.gpu_seconds_total}")
        self.stdout.write(f"  jobs waiting or running: {usage['active_jobs']} of {grant.max_queued_jobs}")


def _show(value) -> str:
    if isinstance(value, bool):
        return "allowed" if value else "not allowed"
    if isinstance(value, list):
        return ", ".join(value) or "every model"
    if value is None or isinstance(value, datetime):
        return local(value)
    return str(value)
