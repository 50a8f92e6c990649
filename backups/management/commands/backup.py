from pathlib import Path

from backups.management.commands._common import BackupCommand
from backups.services import backup_create


class Command(BackupCommand):
    help = (
        "Back up the database (pg_dump's custom format on PostgreSQL, SQLite's online backup API on SQLite) "
        "and the media folder (a tar) into a new folder, with a manifest of versions and checksums. "
        "Safe while the site runs."
    )
    folder_help = "A new or empty folder to write the backup into."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--no-media", action="store_true", help="Leave media out (for media kept in S3-compatible storage)."
        )

    def act(self, *, folder: Path, no_media: bool, **options) -> str:
        manifest = backup_create(folder=folder, media=not no_media)
        database = manifest["database"]
        media = manifest["media"]
        return (
            f"Backed up the {database['vendor']} database ({database['bytes']} bytes)"
            + (f" and {media['files']} media files ({media['bytes']} bytes)" if media else " (no media)")
            + f" to {folder}."
        )
