"""The operator's first account on a new box, usable at once: no SMTP is needed to sign in.

Not ``createsuperuser``: Django's command makes no allauth address record, so allauth's mandatory verification
emails a link at the first sign-in (and on a new box there is no SMTP yet). This command goes through the same
service as every other account (access.people.operator_create): the address counts as verified because the
operator typed it, the password is checked by the password validators, the creation is audited, and the first
sign-in leads to two-factor set-up (staff pages need it: access.middleware.StaffMfaMiddleware).

The password never goes on the command line (where ``ps`` and shell history would keep it): it is asked for
twice at a terminal, or read from an environment variable (``--password-from-env NAME``) or from the first line
of standard input (``--password-stdin``), for scripts.
"""

from __future__ import annotations

import getpass
import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from access.management.commands._common import service_errors
from access.people import operator_create


class Command(BaseCommand):
    help = (
        "Create the operator's staff account (staff and superuser), usable at once without email; the first "
        "sign-in asks for two-factor set-up. The password is asked for, or read with --password-from-env or "
        "--password-stdin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The operator's address (counts as verified).")
        parser.add_argument("--name", default="", help="Display name.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--password-from-env",
            metavar="NAME",
            help="Read the password from this environment variable (e.g. BACKLOT_OPERATOR_PASSWORD).",
        )
        source.add_argument(
            "--password-stdin", action="store_true", help="Read the password from the first line of standard input."
        )

    def handle(self, *args, email, name, password_from_env, password_stdin, **options):
        password = self._password(password_from_env, password_stdin)
        with service_errors():
            user = operator_create(email=email, password=password, display_name=name)
        sign_in = settings.SITE_URL.rstrip("/") + reverse("account_login")
        self.stdout.write(self.style.SUCCESS(f"Created the operator account {user.email} (staff, superuser)."))
        self.stdout.write(
            f"Sign in at {sign_in}: no email is needed. "
            "You will be asked to set up two-factor authentication (an authenticator app) first."
        )

    def _password(self, env_name: str | None, from_stdin: bool) -> str:
        if env_name:
            if env_name not in os.environ:
                raise CommandError(f"The environment variable {env_name} is not set; nothing was created.")
            return os.environ[env_name]
        if from_stdin:
            return sys.stdin.readline().rstrip("\r\n")
        if not sys.stdin.isatty():
            raise CommandError(
                "No password: run this in a terminal to be asked for one, or use --password-from-env NAME "
                "or --password-stdin. Nothing was created."
            )
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ; nothing was created.")
        return password
