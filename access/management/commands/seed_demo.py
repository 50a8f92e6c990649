import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from access.models import Cohort, Programme, Role
from access.people import user_create
from access.programmes import cohort_create, membership_add, programme_create
from access.rates import rate_publish

DEMO_EMAIL = "demo@backlot.local"


class Command(BaseCommand):
    help = "Seed a demo programme with one account (artist and programme admin) and print how to sign in."

    @transaction.atomic
    def handle(self, *args, **options):
        programme = Programme.objects.filter(slug="demo").first() or programme_create(
            name="Demo", description="A demo programme on the smoke model."
        )
        cohort = Cohort.objects.filter(programme=programme, slug="wave-1").first() or cohort_create(
            programme=programme,
            name="Wave 1",
            max_frames=257,
            max_steps=100,
            gpu_seconds_per_day=3600,
            gpu_seconds_total=36000,
            max_queued_jobs=3,
        )
        if not programme.rates.exists():
            for kind, severity, points, amount in [
                ("bug", "", 10, "15"),
                ("bug", "critical", 50, "100"),
                ("finding", "", 20, "40"),
                ("feedback", "", 1, "2"),
                ("submission", "", 25, "50"),
                ("showcase", "", 0, "200"),
            ]:
                rate_publish(
                    programme=programme, kind=kind, severity=severity, points=points, amount=amount, currency="USD"
                )
        password_file = settings.VAR_DIR / "demo-password"
        user = get_user_model().objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = user_create(email=DEMO_EMAIL, password=password, display_name="Demo Artist")
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        membership_add(user=user, programme=programme, role=Role.ARTIST, cohort=cohort)
        membership_add(user=user, programme=programme, role=Role.ADMIN)
        if password_file.exists():
            shown = password_file.read_text().strip()
        else:
            shown = "(set earlier; change it with `manage.py changepassword demo@backlot.local`)"
        self.stdout.write(self.style.SUCCESS(f"Demo account: {DEMO_EMAIL}  password: {shown}"))
