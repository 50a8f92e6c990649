from django.core.management.base import CommandError

from access.management.commands._common import (
    WHEN_HELP,
    AccessCommand,
    actor_get,
    add_actor_argument,
    add_dry_run_argument,
    add_person_or_cohort_arguments,
    add_programme_argument,
    add_reason_argument,
    target_get,
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
        target = add_person_or_cohort_arguments(
            parser, person="Suspend one person.", cohort="Suspend everyone in a cohort (by slug or name)."
        )
        target.add_argument(
            "--programme-wide", action="store_true", help="Pause the whole programme (as pause_programme does)."
        )
        add_programme_argument(parser)
        add_reason_argument(parser, "Why; the people affected are told. With --lift: why access is given back.")
        parser.add_argument("--until", type=when, metavar="WHEN", help=f"End it by itself then ({WHEN_HELP}).")
        parser.add_argument("--lift", action="store_true", help="Lift the active suspensions of this target instead.")
        add_dry_run_argument(parser)
        add_actor_argument(parser)

    def handle(self, *args, person, cohort, programme_wide, programme, reason, until, lift, dry_run, actor, **options):
        programme, user, cohort = target_get(programme, person, cohort)
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
