"""Readiness checks of what every process shares: the database, the cache, the broker and media storage.
Each answers a Check (its name, whether it passed, and why not) quickly: one round trip or one small file,
never a query that grows with the data. config/health.py composes them with the apps' own checks (a model's
workers: generation/readiness.py) into /readyz."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

log = logging.getLogger(__name__)

# A broker or cache that does not answer within this many seconds is down, as far as a load balancer cares.
PROBE_TIMEOUT_SECONDS = 2.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 4), **self.extra}


def timed(name: str, probe) -> Check:
    """Run ``probe`` (which returns a Check or raises); an exception is a failed check that says what it was."""
    started = time.perf_counter()
    try:
        check = probe()
    except Exception as error:  # each check reports its own failure; the others still run
        log.warning("core.readiness_failed check=%s error=%s", name, error)
        check = Check(name, False, f"{type(error).__name__}: {error}")
    check.seconds = time.perf_counter() - started
    return check


def database_check() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return Check("database", True, connection.vendor)


def cache_check() -> Check:
    key, value = f"backlot:readyz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    read = cache.get(key)
    cache.delete(key)
    if read != value:
        return Check("cache", False, "a value written to the cache could not be read back")
    return Check("cache", True, settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1])


def broker_check() -> Check:
    """Redis answers PING; the filesystem broker's queue folder takes a file and gives it back; any other
    transport (RabbitMQ) accepts a connection."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", settings.BROKER_DIR))
        _write_and_delete(folder)
        return Check("broker", True, f"filesystem broker in {folder}")
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(
            url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS
        )
        try:
            client.ping()
        finally:
            client.close()
        return Check("broker", True, "redis")
    from kombu import Connection

    with Connection(url, connect_timeout=PROBE_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1)
    return Check("broker", True, url.split("://", 1)[0])


def _write_and_delete(folder: Path) -> None:
    probe = folder / f".readyz-{uuid.uuid4().hex}"
    probe.write_bytes(b"ok")
    probe.unlink()


def media_check() -> Check:
    """A probe file written through the media storage and deleted again; on a local folder, the free space
    on its disk against BACKLOT_READY_MIN_FREE_MB."""
    name = default_storage.save(f"readyz-probe-{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)
    extra: dict = {}
    minimum = settings.BACKLOT_READY_MIN_FREE_MB
    location = getattr(default_storage, "location", None)
    if location and minimum > 0:
        free_mb = shutil.disk_usage(location).free // (1024 * 1024)
        extra["free_mb"] = free_mb
        if free_mb < minimum:
            return Check(
                "media",
                False,
                f"{free_mb} MiB free on the media disk ({location}), under BACKLOT_READY_MIN_FREE_MB={minimum}",
                extra=extra,
            )
    return Check("media", True, type(default_storage._wrapped).__name__, extra=extra)


CHECKS = (("database", database_check), ("cache", cache_check), ("broker", broker_check), ("media", media_check))


def shared_checks() -> list[Check]:
    return [timed(name, probe) for name, probe in CHECKS]
