from access.management.commands._common import (
    AccessCommand,
    actor_get,
    add_actor_argument,
    add_programme_argument,
    add_reason_argument,
    cohort_get,
    programme_get,
    user_get,
)
from access.models import Suspension


class Command(AccessCommand):
    help = (
        "Revoke the access of a person or a cohort for good: like a suspension with no end, and not lifted by "
        "`suspend --lift` (lift it on the programme's admin pages). Sessions end, jobs are cancelled, the people "
        "affected are told."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--person", metavar="EMAIL", help="Revoke one person's access.")
        target.add_argument("--cohort", metavar="SLUG", help="Revoke the access of a cohort (by slug or name).")
        add_programme_argument(parser)
        add_reason_argument(parser, "Why; the people affected are told.")
        parser.add_argument("--dry-run", action="store_true", help="Say who would be affected; change nothing.")
        add_actor_argument(parser)

    def handle(self, *args, person, cohort, programme, reason, dry_run, actor, **options):
        programme = programme_get(programme)
        user = user_get(person) if person else None
        cohort = cohort_get(programme, cohort) if cohort else None
        self.take_away(
            programme=programme,
            scope=Suspension.Scope.PERSON if user else Suspension.Scope.COHORT,
            kind=Suspension.Kind.REVOCATION,
            user=user,
            cohort=cohort,
            reason=reason,
            actor=actor_get(actor),
            dry_run=dry_run,
        )
