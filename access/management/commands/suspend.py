from django.core.management.base import CommandError

from access.management.commands._common import (
    WHEN_HELP,
    AccessCommand,
    actor_get,
    add_actor_argument,
    add_programme_argument,
    add_reason_argument,
    cohort_get,
    programme_get,
    user_get,
    when,
)
from access.models import Suspension


class Command(AccessCommand):
    help = (
        "Suspend a person, a cohort or a whole programme, or with --lift give their access back. "
        "Access ends at once: sessions end, waiting and running jobs are cancelled, and the people "
        "affected are emailed the reason."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--person", metavar="EMAIL", help="Suspend one person.")
        target.add_argument("--cohort", metavar="SLUG", help="Suspend everyone in a cohort (by slug or name).")
        target.add_argument(
            "--programme-wide", action="store_true", help="Pause the whole programme (as pause_programme does)."
        )
        add_programme_argument(parser)
        add_reason_argument(parser, "Why; the people affected are told. With --lift: why access is given back.")
        parser.add_argument("--until", type=when, metavar="WHEN", help=f"End it by itself then ({WHEN_HELP}).")
        parser.add_argument("--lift", action="store_true", help="Lift the active suspensions of this target instead.")
        parser.add_argument("--dry-run", action="store_true", help="Say who would be affected; change nothing.")
        add_actor_argument(parser)

    def handle(self, *args, person, cohort, programme_wide, programme, reason, until, lift, dry_run, actor, **options):
        programme = programme_get(programme)
        user = user_get(person) if person else None
        cohort = cohort_get(programme, cohort) if cohort else None
        scope = Suspension.Scope.PERSON if user else Suspension.Scope.COHORT if cohort else Suspension.Scope.PROGRAMME
        actor = actor_get(actor)
        target = {"programme": programme, "scope": scope, "user": user, "cohort": cohort}
        if lift:
            if until is not None:
                raise CommandError("--until cannot be used with --lift.")
            self.give_back(**target, reason=reason, actor=actor, dry_run=dry_run)
        else:
            self.take_away(
                **target, kind=Suspension.Kind.SUSPENSION, reason=reason, actor=actor, ends_at=until, dry_run=dry_run
            )
