from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from generation.credentials import DEV_FILES, CredentialsError, dev_ca_create


class Command(BaseCommand):
    help = (
        "Make a development CA and a C2PA signing certificate it issued, so clips get Content Credentials "
        "without a certificate from a public CA. Validators outside this site show them as untrusted."
    )

    requires_system_checks = []  # the check would refuse the very files this makes

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=None, help="Where to write the files (default: $BACKLOT_VAR_DIR/c2pa).")
        parser.add_argument("--if-missing", action="store_true", help="Do nothing when the files are all there.")
        parser.add_argument(
            "--force", action="store_true", help="Replace existing files (clips signed before stay valid)."
        )
        parser.add_argument("--days", type=int, default=825, help="How long the certificates are valid (1 to 3650).")

    def handle(self, *args, dir, if_missing, force, days, **options):
        folder = Path(dir) if dir else settings.VAR_DIR / "c2pa"
        if not 1 <= days <= 3650:
            raise CommandError("--days must be from 1 to 3650.")
        if if_missing and all((folder / name).exists() for name in DEV_FILES.values()):
            self.stdout.write(f"Development C2PA certificate present in {folder}")
            return
        try:
            paths = dev_ca_create(folder, force=force, days=days)
        except CredentialsError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Development C2PA certificate written to {folder}"))
        self.stdout.write(f"BACKLOT_C2PA_CERT_CHAIN={paths['chain']}")
        self.stdout.write(f"BACKLOT_C2PA_KEY={paths['key']}")
        self.stdout.write(f"BACKLOT_C2PA_TRUST_ANCHORS={paths['anchor']}")
