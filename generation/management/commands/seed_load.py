import argparse

from django.core.management.base import BaseCommand, CommandError

from generation.load_seed import DEFAULT_PASSWORD, SEED_DOMAIN, STAFF_EMAIL, SeedRefused, seed_email, seed_load


def count(value: str) -> int:
    try:
        number = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def share(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not from 0 to less than 1")
    return number


class Command(BaseCommand):
    help = (
        "Fill a benchmark database with testers (programme, cohorts, memberships, grants) and a big history of "
        f"render jobs, every account under @{SEED_DOMAIN}. Running it again with the same numbers adds nothing. "
        "Refuses a database that has other accounts unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--jobs", type=count, default=1_000_000, help="Jobs in all (default 1,000,000).")
        parser.add_argument("--testers", type=count, default=10_000, help="Testers in all (default 10,000).")
        parser.add_argument(
            "--heavy-share", type=share, default=0.05, help="Share of the jobs owned by the first tester (0.05)."
        )
        parser.add_argument("--batch", type=count, default=20_000, help="Jobs per transaction (20,000).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed, for repeatable data.")
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="Every seeded account's password.")
        parser.add_argument("--force", action="store_true", help="Seed even a database with other accounts.")

    def handle(self, *args, **options):
        try:
            report = seed_load(
                jobs=options["jobs"],
                testers=options["testers"],
                heavy_share=options["heavy_share"],
                batch=options["batch"],
                seed=options["seed"],
                password=options["password"],
                force=options["force"],
                log=lambda line: self.stdout.write(line) if options["verbosity"] > 1 else None,
            )
        except SeedRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {report.testers_created} testers and {report.jobs_created} jobs in {report.seconds:.1f} s "
                f"(now {report.testers_total} testers, {report.jobs_total} jobs). Heavy tester: {seed_email(1)}; "
                f"staff: {STAFF_EMAIL}."
            )
        )
