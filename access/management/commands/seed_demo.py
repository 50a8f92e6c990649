import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from access.services import user_create

DEMO_EMAIL = "demo@backlot.local"


class Command(BaseCommand):
    help = "Create the demo account if it is missing and print how to sign in (for `make run`)."

    def handle(self, *args, **options):
        password_file = settings.VAR_DIR / "demo-password"
        if not get_user_model().objects.filter(email=DEMO_EMAIL).exists():
            password = secrets.token_urlsafe(12)
            user_create(email=DEMO_EMAIL, password=password, display_name="Demo Artist")
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        if password_file.exists():
            shown = password_file.read_text().strip()
        else:
            shown = "(set earlier; change it with `manage.py changepassword demo@backlot.local`)"
        self.stdout.write(self.style.SUCCESS(f"Demo account: {DEMO_EMAIL}  password: {shown}"))
