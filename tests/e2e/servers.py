"""Private servers for the fault tests: a Redis broker and a PostgreSQL cluster of their own, on free
ports in temporary folders, that a test may kill and restart without touching the servers that CI
and everyone else share. Each is started and stopped by its process id, never by name."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import kombu.pools
import pytest

POSTGRES_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")
        time.sleep(0.05)


class PrivateRedis:
    """redis-server without persistence, as most deployments run it: a restart loses every message."""

    def __init__(self, folder: Path):
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server).")
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.folder),
        ]
        with open(self.folder / "redis.log", "a") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _wait(self.answers, timeout=20, what="the private Redis to answer")

    def answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def kill(self) -> None:
        """A crash: SIGKILL, so nothing is saved and no client is told."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def messages(self, queue: str) -> int:
        import redis

        return redis.Redis.from_url(self.url).llen(queue)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster. initdb refuses to run as root, so as root it runs as the
    postgres user (runuser) in a folder that user owns."""

    def __init__(self):
        if not POSTGRES_BINARIES:
            pytest.skip("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin).")
        self.bin = Path(POSTGRES_BINARIES[-1])
        self.folder = Path(tempfile.mkdtemp(prefix="backlot-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/backlot"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, user="postgres", group="postgres")

    def _run(self, *command: str) -> None:
        # Output goes to a file: a server started by pg_ctl would hold a pipe open for its lifetime.
        with open(self.folder / "commands.log", "a+") as log:
            result = subprocess.run([*self._as, *command], stdout=log, stderr=subprocess.STDOUT, timeout=120)
            if result.returncode != 0:
                log.seek(0)
                raise AssertionError(f"{' '.join(command)} failed:\n{log.read()[-3000:]}")

    def create(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE backlot")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            *extra,
            action,
        )

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self) -> None:
        """What an upgrade or a failover does: every connection is cut, and the server comes back."""
        self._pg_ctl("restart", "-m", "fast")

    def destroy(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def broker_in_use(url: str, *, transport_options: dict | None = None):
    """Point this process's Celery app (what job_create and the sweeper publish with) at ``url``."""
    from config.celery import app

    def forget_connections():
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        # kombu also keeps process-wide producer and connection pools keyed by broker: drop them too, or
        # later publishing in this process acquires from a pool closed here.
        kombu.pools.reset()

    # Publishing uses broker_write_url, which falls back to broker_url (and the environment's
    # CELERY_BROKER_URL before either); setting it directly wins over both.
    saved = app.conf.get("broker_write_url"), app.conf.broker_transport_options
    forget_connections()
    options = {"visibility_timeout": 4 * 3600} if transport_options is None else transport_options
    app.conf.broker_write_url, app.conf.broker_transport_options = url, options
    try:
        yield
    finally:
        forget_connections()
        app.conf.broker_write_url, app.conf.broker_transport_options = saved


@contextlib.contextmanager
def database_in_use(url: str):
    """Point this thread's default database connection at ``url`` (the test's own connection, and
    every service it calls, then read and write there)."""
    import dj_database_url
    from django.db import connections
    from django.db.utils import ConnectionHandler, load_backend

    configured = ConnectionHandler().configure_settings({"default": dj_database_url.parse(url)})["default"]
    private = load_backend(configured["ENGINE"]).DatabaseWrapper(configured, "default")
    saved = connections["default"]
    connections["default"] = private
    try:
        yield private
    finally:
        private.close()
        connections["default"] = saved


@contextlib.contextmanager
def private_filesystem_broker(folder: Path):
    """A filesystem broker of the test's own in ``folder``, so that no worker the rest of the session started
    takes its jobs: this process publishes there, and the environment it yields points workers at it."""
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    with broker_in_use("filesystem://", transport_options=options):
        yield {"CELERY_BROKER_URL": "filesystem://", "BACKLOT_BROKER_DIR": str(folder)}
