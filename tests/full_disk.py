"""A media storage whose disk is full: while a file named DISK_FULL exists in its folder, every write
fails as a full disk does (OSError ENOSPC). Selected with MEDIA_STORAGE=tests.full_disk.FullDiskStorage,
in a worker's environment or in a test's settings."""

import errno
import os
from pathlib import Path

from django.core.files.storage import FileSystemStorage

DISK_FULL = "DISK_FULL"


class FullDiskStorage(FileSystemStorage):
    def _save(self, name, content):
        if (Path(self.location) / DISK_FULL).exists():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
        return super()._save(name, content)


def disk_fill(folder) -> None:
    (Path(folder) / DISK_FULL).touch()


def disk_free(folder) -> None:
    (Path(folder) / DISK_FULL).unlink(missing_ok=True)
