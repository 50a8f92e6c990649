from access.management.commands._common import (
    AccessCommand,
    actor_get,
    add_actor_argument,
    add_dry_run_argument,
    add_person_or_cohort_arguments,
    add_programme_argument,
    add_reason_argument,
    target_get,
)
from access.models import Suspension


class Command(AccessCommand):
    help = (
        "Revoke the access of a person or a cohort for good: like a suspension with no end, and not lifted by "
        "`suspend --lift` (lift it on the programme's admin pages). Sessions end, jobs are cancelled, the people "
        "affected are told."
    )

    def add_arguments(self, parser):
        add_person_or_cohort_arguments(
            parser, person="Revoke one person's access.", cohort="Revoke the access of a cohort (by slug or name)."
        )
        add_programme_argument(parser)
        add_reason_argument(parser, "Why; the people affected are told.")
        add_dry_run_argument(parser)
        add_actor_argument(parser)

    def handle(self, *args, person, cohort, programme, reason, dry_run, actor, **options):
        programme, user, cohort = target_get(programme, person, cohort)
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
