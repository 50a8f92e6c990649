"""`manage.py backup` and `manage.py restore`, on SQLite and on PostgreSQL, each in a database of its
own (a SQLite file; a PostgreSQL database with a random name on the configured server, dropped after),
never the suite's test database."""

import hashlib
import io
import json
import secrets
import shutil
import sqlite3
import tarfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from access.models import Role, User
from access.programmes import cohort_create, programme_create
from backups.services import _sha256
from generation.models import RenderJob
from tests.conftest import member
from tests.e2e.servers import database_in_use
from tests.factories import RenderJobFactory

ON_POSTGRES = connection.vendor == "postgresql"


class Databases:
    """Fresh databases of one kind: a migrated template, copied for each test (migrating takes a while)."""

    def __init__(self, vendor: str, folder: Path):
        self.vendor, self.folder, self.made = vendor, folder, []
        self.template = self.new(migrated=False)
        suite = connection.settings_dict
        if vendor == "sqlite" and suite["NAME"] == suite["TEST"]["NAME"]:
            _sqlite_copy_emptied(suite["NAME"], self.template)
        with database_in_use(self.template):
            call_command("migrate", verbosity=0)

    def new(self, *, migrated: bool = True) -> str:
        name = f"backlot_backup_{secrets.token_hex(4)}"
        if self.vendor == "sqlite":
            path = self.folder / f"{name}.sqlite3"
            if migrated:
                shutil.copyfile(self.template.removeprefix("sqlite:///"), path)
            self.made.append(path)
            return f"sqlite:///{path}"
        template = f" TEMPLATE {self.template.rsplit('/', 1)[1]}" if migrated else ""
        self._admin(f"CREATE DATABASE {name}{template}")
        self.made.append(name)
        return self._url(name)

    def drop_all(self) -> None:
        for made in self.made:
            if self.vendor == "postgresql":
                self._admin(f"DROP DATABASE IF EXISTS {made} WITH (FORCE)")

    def _url(self, name: str) -> str:
        db = connection.settings_dict
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{name}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self._url("postgres").replace("postgres://", "postgresql://"), autocommit=True) as admin:
            admin.execute(statement)


def _sqlite_copy_emptied(source: str, url: str) -> None:
    """Migrating an empty SQLite file takes about 13 s, and the suite's own test database (``source``, once a test
    that uses it has set it up) is migrated already: ``url`` becomes a copy of it, emptied as ``flush`` empties it.
    The migrations table is kept, so the migrate that follows applies only what the copy lacks, then fills the content
    types and permissions, as after a first migrate. (Asking for ``django_db_setup`` here instead would not set the
    test database up where no test of the run uses it, and tests/conftest.py's would then flush the real one.)"""
    copier = sqlite3.connect(source)
    try:
        copier.execute("VACUUM INTO ?", (url.removeprefix("sqlite:///"),))
    finally:
        copier.close()
    with database_in_use(url):
        call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not ON_POSTGRES,
                reason="pg_dump and pg_restore are tested in the PostgreSQL pass (DATABASE_URL=postgres://…).",
            ),
        ),
    ],
)
def databases(request, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        made = Databases(request.param, tmp_path_factory.mktemp("databases"))
        yield made
        made.drop_all()


@pytest.fixture
def site(databases, django_db_blocker, settings, tmp_path):
    """This test's own database, migrated and with a tester and a finished clip, and its media folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    with django_db_blocker.unblock(), database_in_use(databases.new()):
        cohort = cohort_create(programme=programme_create(name="Backed up"), name="Wave 1")
        owner = member("kept@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
        job = RenderJobFactory(owner=owner, state="succeeded", output=f"renders/{owner.pk}/clip.mp4")
        for name, data in ((job.output.name, b"\x00\x00\x00\x18ftypmp42 a clip"), ("posters/1/p.jpg", b"\xff\xd8")):
            (settings.MEDIA_ROOT / name).parent.mkdir(parents=True, exist_ok=True)
            (settings.MEDIA_ROOT / name).write_bytes(data)
        yield settings.MEDIA_ROOT


def _state(media_root: Path) -> dict:
    files = {
        str(p.relative_to(media_root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(media_root.rglob("*"))
        if p.is_file()
    }
    return {
        "people": sorted(User.objects.values_list("email", flat=True)),
        "jobs": sorted(str(pk) for pk in RenderJob.objects.values_list("pk", flat=True)),
        "media": files,
    }


def _backup(folder: Path) -> dict:
    call_command("backup", str(folder), stdout=io.StringIO())
    return json.loads((folder / "manifest.json").read_text())


def test_a_backup_has_the_database_the_media_and_a_manifest_with_checksums(site, tmp_path):
    manifest = _backup(tmp_path / "backup")

    database, media = manifest["database"], manifest["media"]
    assert database["vendor"] == connection.vendor and database["server_version"]
    assert database["file"] == {"sqlite": "database.sqlite3", "postgresql": "database.dump"}[connection.vendor]
    assert _sha256(tmp_path / "backup" / database["file"]) == database["sha256"]
    assert (tmp_path / "backup" / database["file"]).stat().st_size == database["bytes"]
    assert media["files"] == 2 and _sha256(tmp_path / "backup" / "media.tar") == media["sha256"]
    with tarfile.open(tmp_path / "backup" / "media.tar") as archive:
        assert sorted(archive.getnames()) == sorted(_state(site)["media"])
    assert manifest["versions"]["django"].startswith("5.2") and manifest["created_at"]
    assert ["generation", "0001_initial"] in manifest["migrations"]


def test_restore_brings_back_the_database_and_media_and_needs_force_over_data(site, tmp_path):
    backed_up = _state(site)
    _backup(tmp_path / "backup")
    RenderJob.objects.all().delete()
    User.objects.create(email="later@example.org")
    (site / "posters/1/p.jpg").unlink()
    (site / "renders/new.mp4").write_bytes(b"made after the backup")
    changed = _state(site)

    with pytest.raises(CommandError, match="The database already holds data; restoring would replace it"):
        call_command("restore", str(tmp_path / "backup"))
    assert _state(site) == changed, "a refused restore changes nothing"

    out = io.StringIO()
    call_command("restore", str(tmp_path / "backup"), "--force", stdout=out)

    assert _state(site) == backed_up
    assert "Restored the" in out.getvalue() and "2 media files" in out.getvalue()


def test_a_backup_restores_into_a_new_empty_database_and_media_folder(site, databases, settings, tmp_path):
    backed_up = _state(site)
    _backup(tmp_path / "backup")
    settings.MEDIA_ROOT = tmp_path / "new-media"

    with database_in_use(databases.new(migrated=False)):
        call_command("restore", str(tmp_path / "backup"), stdout=io.StringIO())
        assert _state(settings.MEDIA_ROOT) == backed_up


def test_a_media_folder_with_files_needs_force_even_over_an_empty_database(site, databases, settings, tmp_path):
    _backup(tmp_path / "backup")
    settings.MEDIA_ROOT = tmp_path / "other-media"
    (settings.MEDIA_ROOT / "renders").mkdir(parents=True)
    (settings.MEDIA_ROOT / "renders" / "someone-elses.mp4").write_bytes(b"keep me")

    with database_in_use(databases.new(migrated=False)), pytest.raises(CommandError, match="is not empty"):
        call_command("restore", str(tmp_path / "backup"))
    assert (settings.MEDIA_ROOT / "renders" / "someone-elses.mp4").read_bytes() == b"keep me"


@pytest.mark.parametrize("part", ["database", "media"])
def test_restore_refuses_a_corrupt_backup_and_changes_nothing(site, tmp_path, part):
    manifest = _backup(tmp_path / "backup")
    damaged = tmp_path / "backup" / manifest[part]["file"]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    User.objects.create(email="after@example.org")
    before = _state(site)

    with pytest.raises(CommandError, match="does not match its checksum: the backup is corrupt"):
        call_command("restore", str(tmp_path / "backup"), "--force")
    assert _state(site) == before


def _edit_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_restore_refuses_a_backup_of_another_kind_of_database(site, tmp_path):
    _backup(tmp_path / "backup")
    other = "sqlite" if connection.vendor == "postgresql" else "postgresql"
    _edit_manifest(tmp_path / "backup", lambda m: m["database"].update(vendor=other))
    before = _state(site)

    with pytest.raises(CommandError, match=f"This is a backup of a {other} database; this site runs on"):
        call_command("restore", str(tmp_path / "backup"), "--force")
    assert _state(site) == before


def test_restore_refuses_a_backup_made_by_newer_code(site, tmp_path):
    _backup(tmp_path / "backup")
    _edit_manifest(tmp_path / "backup", lambda m: m["migrations"].append(["generation", "0999_from_the_future"]))

    with pytest.raises(CommandError, match=r"migrations this code does not know \(generation.0999_from_the_future\)"):
        call_command("restore", str(tmp_path / "backup"), "--force")


def test_restore_refuses_a_media_archive_that_writes_outside_the_media_folder(site, tmp_path):
    manifest = _backup(tmp_path / "backup")
    archive_path = tmp_path / "backup" / "media.tar"
    with tarfile.open(archive_path, "w") as archive:
        payload = b"escaped"
        entry = tarfile.TarInfo("../../escaped.txt")
        entry.size = len(payload)
        archive.addfile(entry, io.BytesIO(payload))
    _edit_manifest(
        tmp_path / "backup",
        lambda m: m["media"].update(sha256=_sha256(archive_path), bytes=archive_path.stat().st_size),
    )
    before = _state(site)

    with pytest.raises(CommandError, match="unsafe path '../../escaped.txt'"):
        call_command("restore", str(tmp_path / "backup"), "--force")
    assert _state(site) == before and manifest["media"]["files"] == 2
    assert not (tmp_path / "escaped.txt").exists()


def test_restore_refuses_a_folder_that_is_not_a_backup(site, tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(CommandError, match="holds no manifest.json: it is not a Backlot backup"):
        call_command("restore", str(tmp_path / "nothing"))


def test_backup_refuses_a_folder_that_already_holds_files(site, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")

    with pytest.raises(CommandError, match="already exists and is not an empty folder"):
        call_command("backup", str(tmp_path / "busy"))
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]


def test_backup_of_media_kept_in_s3_asks_for_no_media(site, tmp_path, settings):
    settings.MEDIA_STORAGE = "s3"
    with pytest.raises(CommandError, match="run this with --no-media"):
        call_command("backup", str(tmp_path / "backup"))
    assert not (tmp_path / "backup").exists()

    call_command("backup", str(tmp_path / "backup"), "--no-media", stdout=io.StringIO())
    assert json.loads((tmp_path / "backup" / "manifest.json").read_text())["media"] is None
