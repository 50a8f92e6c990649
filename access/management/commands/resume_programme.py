from django.core.management.base import BaseCommand

from access.management.commands._common import (
    actor_get,
    add_actor_argument,
    add_programme_argument,
    add_reason_argument,
    local,
    programme_get,
    service_errors,
)
from access.suspensions import resume


class Command(BaseCommand):
    help = "Lift the pause of a programme; its testers are told access is back."

    def add_arguments(self, parser):
        add_programme_argument(parser)
        add_reason_argument(parser, "Why access is given back; kept in the audit trail.")
        add_actor_argument(parser)

    def handle(self, *args, programme, reason, actor, **options):
        programme = programme_get(programme)
        with service_errors():
            pauses = resume(programme=programme, actor=actor_get(actor), reason=reason)
        for pause in pauses:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Lifted the pause of {programme.name} since {local(pause.starts_at)} ({pause.reason})"
                )
            )
