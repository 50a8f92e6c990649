from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backups.services import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by `backup`: checks its manifest and checksums first, and refuses a corrupt backup, "
        "one of another kind of database or one made by newer code. Stop the web app and the workers first; "
        "run `migrate` after restoring a backup made by an older version."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="The backup's folder.")
        parser.add_argument(
            "--force", action="store_true", help="Replace a database and media folder that already hold data."
        )

    def handle(self, *args, folder: Path, force: bool, **options):
        try:
            restored = backup_restore(folder=folder, force=force)
        except BackupError as error:
            raise CommandError(str(error)) from None
        media = f" and {restored.media_files} media files" if restored.media_files is not None else ""
        self.stdout.write(f"Restored the {restored.database} database{media} from {folder}.")
