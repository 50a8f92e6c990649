from pathlib import Path

from backups.management.commands._common import BackupCommand
from backups.services import backup_restore


class Command(BackupCommand):
    help = (
        "Restore a backup made by `backup`: checks its manifest and checksums first, and refuses a corrupt backup, "
        "one of another kind of database or one made by newer code. Stop the web app and the workers first; "
        "run `migrate` after restoring a backup made by an older version."
    )
    folder_help = "The backup's folder."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--force", action="store_true", help="Replace a database and media folder that already hold data."
        )

    def act(self, *, folder: Path, force: bool, **options) -> str:
        restored = backup_restore(folder=folder, force=force)
        media = f" and {restored.media_files} media files" if restored.media_files is not None else ""
        return f"Restored the {restored.database} database{media} from {folder}."
