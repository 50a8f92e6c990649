import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from access.invitations import INVITATION_DAYS, invitations_create, invitations_preview
from access.management.commands._common import (
    actor_get,
    add_actor_argument,
    add_programme_argument,
    cohort_get,
    local,
    programme_get,
    service_errors,
)
from access.models import Role

CELL_SEPARATORS = re.compile(r"[\s,;]+")


def addresses_in(path: str) -> list[str]:
    """Every cell of a CSV file or plain list that looks like an address (has an @); a header row and
    columns of names are passed over. The service decides which of them are valid."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"Cannot read {path}: {error}") from None
    cells = (cell.strip("\"'<>()") for cell in CELL_SEPARATORS.split(text))
    return [cell for cell in cells if "@" in cell]


class Command(BaseCommand):
    help = (
        "Invite people into a programme and cohort with a role: each gets an email with "
        "a sign-up link. Addresses already invited, already members or belonging to deactivated accounts are "
        "skipped, and each skip is printed with its reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("emails", nargs="*", metavar="EMAIL", help="Addresses to invite.")
        add_programme_argument(parser)
        parser.add_argument("--cohort", metavar="SLUG", help="The cohort (by slug or name); testers need one.")
        parser.add_argument("--role", required=True, choices=Role.values, help="The role they will have.")
        parser.add_argument("--file", metavar="PATH", help="A CSV file or plain list of addresses (a header is fine).")
        parser.add_argument(
            "--days",
            type=int,
            default=INVITATION_DAYS,
            metavar="N",
            help=f"Days until the links expire (default {INVITATION_DAYS}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say who would be invited and who skipped; save and send nothing."
        )
        add_actor_argument(parser)

    def handle(self, *args, emails, programme, cohort, role, file, days, dry_run, actor, **options):
        programme = programme_get(programme)
        cohort = cohort_get(programme, cohort) if cohort else None
        actor = actor_get(actor)
        emails = [*emails, *(addresses_in(file) if file else [])]
        if not emails:
            raise CommandError("No addresses: give them as arguments or with --file.")
        request = {"cohort": cohort, "programme": programme, "role": role, "emails": emails, "days": days}
        with service_errors():
            if dry_run:
                invited, skipped = invitations_preview(**request)
            else:
                invitations, skipped = invitations_create(**request, actor=actor)
                invited = [invitation.email for invitation in invitations]
        where = f"{cohort.name} in {programme.name}" if cohort else programme.name
        for email in invited:
            if dry_run:
                self.stdout.write(f"Would invite {email}")
            else:
                self.stdout.write(self.style.SUCCESS(f"Invited {email}"))
        for email, why in skipped.items():
            self.stdout.write(self.style.WARNING(f"{'Would skip' if dry_run else 'Skipped'} {email}: {why}"))
        if dry_run:
            self.stdout.write(
                f"Dry run: {len(invited)} would be invited as {role} to {where}, {len(skipped)} skipped; "
                "nothing was saved or sent."
            )
        else:
            expires = local(invitations[0].expires_at) if invitations else ""
            self.stdout.write(
                f"{len(invited)} invited as {role} to {where}"
                + (f" (links expire {expires})" if expires else "")
                + f", {len(skipped)} skipped."
            )
