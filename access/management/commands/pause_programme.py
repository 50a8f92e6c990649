from access.management.commands._common import (
    WHEN_HELP,
    AccessCommand,
    actor_get,
    add_actor_argument,
    add_dry_run_argument,
    add_programme_argument,
    add_reason_argument,
    programme_get,
    when,
)
from access.models import Suspension


class Command(AccessCommand):
    help = (
        "Pause a programme, the kill switch: every tester loses access at once, "
        "their waiting and running jobs are cancelled and they are told why. Programme admins keep their pages."
    )

    def add_arguments(self, parser):
        add_programme_argument(parser)
        add_reason_argument(parser, "Why; every tester is told.")
        parser.add_argument("--until", type=when, metavar="WHEN", help=f"End the pause by itself then ({WHEN_HELP}).")
        add_dry_run_argument(parser, "Say how many people would be affected.")
        add_actor_argument(parser)

    def handle(self, *args, programme, reason, until, dry_run, actor, **options):
        self.take_away(
            programme=programme_get(programme),
            scope=Suspension.Scope.PROGRAMME,
            kind=Suspension.Kind.PAUSE,
            reason=reason,
            actor=actor_get(actor),
            ends_at=until,
            dry_run=dry_run,
        )
