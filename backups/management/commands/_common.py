"""What the backup commands share (Django skips modules whose name starts with an underscore)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backups.services import BackupError


class BackupCommand(BaseCommand):
    """A command over one backup folder: ``act`` does the work and says what it did; a BackupError becomes a
    CommandError carrying its message."""

    folder_help = ""

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help=self.folder_help)

    def handle(self, *args, folder: Path, **options):
        try:
            said = self.act(folder=folder, **options)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(said)

    def act(self, *, folder: Path, **options) -> str:
        raise NotImplementedError
