import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from access.people import user_create


class Command(BaseCommand):
    help = "Create an account that can sign in with email and password (sign-up is closed)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password", help="Password to set; a random one is generated and printed if omitted.")
        parser.add_argument("--name", default="", help="Display name used for credits.")
        parser.add_argument("--staff", action="store_true", help="Allow access to the Django admin.")

    def handle(self, *args, email, password, name, staff, **options):
        generated = password is None
        password = password if not generated else secrets.token_urlsafe(12)
        try:
            user = user_create(email=email, password=password, display_name=name, is_staff=staff)
        except ValidationError as error:
            raise CommandError(" ".join(_messages(error))) from None
        self.stdout.write(self.style.SUCCESS(f"Created {user.email}."))
        if generated:
            self.stdout.write(f"Password: {password}")


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "message_dict"):
        return [message for messages in error.message_dict.values() for message in messages]
    return list(error.messages)
