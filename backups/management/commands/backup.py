from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backups.services import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump's custom format on PostgreSQL, SQLite's online backup API on SQLite) "
        "and the media folder (a tar) into a new folder, with a manifest of versions and checksums. "
        "Safe while the site runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="A new or empty folder to write the backup into.")
        parser.add_argument(
            "--no-media", action="store_true", help="Leave media out (for media kept in S3-compatible storage)."
        )

    def handle(self, *args, folder: Path, no_media: bool, **options):
        try:
            manifest = backup_create(folder=folder, media=not no_media)
        except BackupError as error:
            raise CommandError(str(error)) from None
        database = manifest["database"]
        media = manifest["media"]
        self.stdout.write(
            f"Backed up the {database['vendor']} database ({database['bytes']} bytes)"
            + (f" and {media['files']} media files ({media['bytes']} bytes)" if media else " (no media)")
            + f" to {folder}."
        )
