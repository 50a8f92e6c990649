from django.core.management.base import BaseCommand, CommandError

from generation.health import worker_health_reset
from generation.models import Worker


class Command(BaseCommand):
    help = (
        "List each worker's health, or reset an unhealthy one (--reset <name>, or --reset-all): it takes jobs "
        "again from its next heartbeat. Each reset is in the audit trail."
    )

    def add_arguments(self, parser):
        choice = parser.add_mutually_exclusive_group()
        choice.add_argument("--reset", metavar="NAME", help="The worker's node name, e.g. gpu0@host, as listed.")
        choice.add_argument("--reset-all", action="store_true", help="Reset every unhealthy worker.")

    def handle(self, *args, reset, reset_all, **options):
        if reset is not None:
            worker = Worker.objects.filter(hostname=reset).first()
            if worker is None:
                known = ", ".join(Worker.objects.values_list("hostname", flat=True)) or "none"
                raise CommandError(f"No worker is called {reset!r} (known: {known}).")
            targets = [worker]
        elif reset_all:
            targets = list(Worker.objects.filter(unhealthy_since__isnull=False))
        else:
            self._list()
            return
        for worker in targets:
            if worker_health_reset(worker=worker):
                done = f"{worker.hostname}: healthy again; it takes jobs from its next heartbeat."
                self.stdout.write(self.style.SUCCESS(done))
            else:
                self.stdout.write(f"{worker.hostname}: was not unhealthy; nothing changed.")
        if not targets:
            self.stdout.write("No worker is unhealthy.")

    def _list(self):
        workers = list(Worker.objects.order_by("hostname"))
        if not workers:
            self.stdout.write("No worker has reported yet.")
        for worker in workers:
            if worker.is_healthy:
                self.stdout.write(f"{worker.hostname}\thealthy\t{worker.failures_in_row} failed in a row")
            else:
                since = worker.unhealthy_since.isoformat(timespec="seconds")
                self.stdout.write(f"{worker.hostname}\tUNHEALTHY since {since}\t{worker.health_reason}")
