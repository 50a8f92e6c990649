"""Backups of the database and the media folder, and their restore.

A backup is a folder: the database (pg_dump's custom format on PostgreSQL, a copy made with SQLite's
online backup API on SQLite), the media folder as a tar, and manifest.json, which records when it was
made, by which versions, the migrations the database had reached, and each file's size and SHA-256.
Restore checks all of that before it changes anything: a corrupt file, a backup of another kind of
database or one made by newer code is refused, and so is a database or media folder that already
holds data, unless the operator says --force.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import django
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

MANIFEST = "manifest.json"
FORMAT = 1
MEDIA_FILE = "media.tar"
DATABASE_FILES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
# Tables that a freshly migrated database fills by itself; rows anywhere else mean the database holds data.
BOOKKEEPING_TABLES = {"django_migrations", "django_content_type", "auth_permission", "django_site"}


class BackupError(Exception):
    """The backup cannot be made or restored; the message says why, and nothing was changed."""


@dataclass(frozen=True)
class Restored:
    database: str
    media_files: int | None


def backup_create(*, folder: Path, media: bool = True) -> dict:
    """Write a backup of the database (and, with ``media``, of the local media folder) into ``folder``,
    which must be new or empty. Returns the manifest."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder} already exists and is not an empty folder; choose a new one.")
    vendor = _vendor()
    if media and settings.MEDIA_STORAGE != "local":
        raise BackupError(
            f"Media is kept in {settings.MEDIA_STORAGE!r} storage, not in a local folder: back it up with the "
            "storage's own tools (bucket versioning or replication) and run this with --no-media."
        )
    folder.mkdir(parents=True, exist_ok=True)
    try:
        database_file = folder / DATABASE_FILES[vendor]
        _database_dump(vendor, database_file)
        manifest = {
            "format": FORMAT,
            "created_at": timezone.now().isoformat(),
            "versions": _versions(),
            "database": {"vendor": vendor, "server_version": _server_version(), **_describe(database_file)},
            "migrations": _applied_migrations(),
            "media": None,
        }
        if media:
            manifest["media"] = {**_media_tar(folder / MEDIA_FILE), **_describe(folder / MEDIA_FILE)}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # half a backup is worse than none
        raise
    return manifest


def backup_check(*, folder: Path) -> dict:
    """The manifest of a backup that this site can restore, or BackupError saying why not."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{folder} holds no {MANIFEST}: it is not a Backlot backup.") from None
    except (ValueError, OSError) as error:
        raise BackupError(f"{folder / MANIFEST} cannot be read: {error}.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{folder / MANIFEST} is not a backup manifest this version understands.")
    database = manifest.get("database") or {}
    if database.get("vendor") != _vendor():
        raise BackupError(
            f"This is a backup of a {database.get('vendor')} database; this site runs on {_vendor()}. "
            "Restore it into a site configured like the one that made it."
        )
    unknown = sorted(set(map(tuple, manifest.get("migrations", []))) - _known_migrations())
    if unknown:
        raise BackupError(
            f"The backup's database has migrations this code does not know ({', '.join(map('.'.join, unknown[:5]))}): "
            "it was made by a newer Backlot. Restore it with that version."
        )
    for part in filter(None, (database, manifest.get("media"))):
        _verify(folder, part)
    if manifest.get("media"):
        _check_archive(folder / manifest["media"]["file"])
    return manifest


def backup_restore(*, folder: Path, force: bool = False) -> Restored:
    """Restore the backup in ``folder`` over this site's database and (if the backup has it) its media
    folder. Without ``force`` a database or media folder that already holds data is left alone."""
    folder = Path(folder)
    manifest = backup_check(folder=folder)
    media_root = Path(settings.MEDIA_ROOT)
    if not force:
        if _database_holds_data():
            raise BackupError("The database already holds data; restoring would replace it. Use --force to do so.")
        if manifest["media"] and media_root.exists() and any(media_root.iterdir()):
            raise BackupError(f"The media folder {media_root} is not empty. Use --force to replace its contents.")
    vendor = manifest["database"]["vendor"]
    _database_restore(vendor, folder / manifest["database"]["file"])
    media_files = _media_restore(folder / manifest["media"]["file"], media_root) if manifest["media"] else None
    return Restored(database=vendor, media_files=media_files)


def _vendor() -> str:
    if connection.vendor not in DATABASE_FILES:
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {connection.vendor}.")
    return connection.vendor


def _versions() -> dict:
    try:
        backlot = metadata.version("backlot")
    except metadata.PackageNotFoundError:
        backlot = "unknown"
    return {"backlot": backlot, "django": django.get_version(), "python": platform.python_version()}


def _server_version() -> str:
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        return str(connection.pg_version)
    return sqlite3.sqlite_version


def _applied_migrations() -> list[list[str]]:
    applied = MigrationLoader(connection, ignore_no_migrations=True).applied_migrations
    return sorted([app, name] for app, name in applied)


def _known_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def _describe(path: Path) -> dict:
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(folder: Path, part: dict) -> None:
    name = part.get("file", "")
    path = folder / name
    if not name or Path(name).name != name or not path.is_file():
        raise BackupError(f"The backup's file {name!r} is missing.")
    if path.stat().st_size != part.get("bytes") or _sha256(path) != part.get("sha256"):
        raise BackupError(f"The backup's file {name} does not match its checksum: the backup is corrupt.")


def _pg_command(program: str, *args: str) -> tuple[list[str], dict]:
    db = connection.settings_dict
    command = [program, "--dbname", db["NAME"], "--no-password"]
    for flag, value in (("--host", db["HOST"]), ("--port", db["PORT"]), ("--username", db["USER"])):
        if value:
            command += [flag, str(value)]
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    return [*command, *args], env


def _run(command: list[str], env: dict, what: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (it comes with PostgreSQL's client package).")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip()[-2000:]}")


def _database_dump(vendor: str, path: Path) -> None:
    if vendor == "postgresql":
        _run(*_pg_command("pg_dump", "--format", "custom", "--file", str(path)), what="pg_dump")
        return
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        connection.connection.backup(target)  # a consistent copy while others read and write
    finally:
        target.close()


def _database_restore(vendor: str, path: Path) -> None:
    connection.close()  # restoring replaces tables this process may hold open
    if vendor == "postgresql":
        command, env = _pg_command(
            "pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", str(path)
        )
        _run(command, env, what="pg_restore")
        return
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(connection.settings_dict["NAME"])
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _database_holds_data() -> bool:
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor)) - BOOKKEEPING_TABLES
        for table in sorted(tables):
            cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")  # noqa: S608 (a table name from introspection)
            if cursor.fetchone():
                return True
    return False


def _check_archive(path: Path) -> None:
    """Every entry a plain file or folder inside the media folder, checked before anything is restored."""
    try:
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if not (member.isfile() or member.isdir()) or Path(member.name).is_absolute() or ".." in parts:
                    raise BackupError(f"The media archive has an unsafe path {member.name!r}; nothing was restored.")
    except tarfile.TarError as error:
        raise BackupError(f"The media archive cannot be read: {error}.") from None


def _media_tar(path: Path) -> dict:
    media_root = Path(settings.MEDIA_ROOT)
    count = 0
    with tarfile.open(path, "w") as archive:
        if media_root.is_dir():
            for file in sorted(p for p in media_root.rglob("*") if p.is_file() and not p.is_symlink()):
                archive.add(file, arcname=str(file.relative_to(media_root)), recursive=False)
                count += 1
    return {"files": count}


def _media_restore(path: Path, media_root: Path) -> int:
    """Unpack into a new folder beside the media folder, then swap it in, so a failure midway leaves
    the old contents in place."""
    media_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restoring-", dir=media_root.parent))
    try:
        with tarfile.open(path) as archive:
            members = archive.getmembers()
            archive.extractall(staging, filter="data")  # refuses absolute paths, .. and links out of the folder
        for child in list(media_root.iterdir()):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        for child in staging.iterdir():
            child.rename(media_root / child.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sum(1 for member in members if member.isfile())
