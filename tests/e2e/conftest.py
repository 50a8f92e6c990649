"""A real Celery worker process, started once per test session against the configured broker and
the test database, rendering with the smoke model."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from config.celery import FILM_QUEUE, worker_argv
from generation.registry import MODELS
from tests.conftest import c2pa_environment

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_start(*, env: dict, log_path: Path, hostname: str = "e2e@%h", loaded: bool = True) -> subprocess.Popen:
    """A Celery worker process like the production ones (one process, prefetch one, every model
    queue, and the films queue), rendering with the smoke model; returns once its model is loaded (once it is
    ready, for a worker whose model is not expected to load: ``loaded=False``). ``env`` overrides the test's
    own settings (database, broker, media)."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "BACKLOT_BROKER_DIR": str(settings.BROKER_DIR),
        "BACKLOT_MODELS_DIR": str(settings.BACKLOT_MODELS_DIR),
        "BACKLOT_PRELOAD_MODELS": "ltx-video",
        "PYTHONUNBUFFERED": "1",
        # Frequent heartbeats, so a worker row removed by a transactional test's flush is back within seconds.
        "BACKLOT_WORKER_HEARTBEAT_SECONDS": "1",
        **env,
    }
    queues = ",".join([spec.queue for spec in MODELS.values()] + [FILM_QUEUE])
    command = worker_argv("-Q", queues, "--without-heartbeat", "--hostname", hostname)
    with open(log_path, "w") as log:
        # A session of its own, so that stopping it reaches the pool process too.
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while "ready." not in log_path.read_text() or (loaded and "generation.model_loaded" not in log_path.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            worker_stop(process)
            pytest.fail(f"The Celery worker did not start:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)
    return process


def worker_stop(process: subprocess.Popen, *, timeout: float = 20) -> None:
    """A warm shutdown (it finishes what it holds), else SIGKILL for it and its pool process."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # not reaped yet, so the group is still the one we started
        process.wait()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, smoke_model, media_root, tmp_path_factory, c2pa_dev_ca):
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    process = worker_start(env={"MEDIA_ROOT": str(media_root), **c2pa_environment(c2pa_dev_ca)}, log_path=log_path)
    yield process
    worker_stop(process)
    print(f"worker log: {log_path}")


@pytest.fixture
def worker_env() -> dict:
    """What this module's own workers run with beyond the media folder; a module overrides it."""
    return {}


@pytest.fixture
def start_worker(smoke_model, media_root, worker_env, tmp_path):
    """Start a worker of this test's own (``name@host``); each is stopped when the test ends."""
    started = []

    def start(*, name: str, loaded: bool = True, **env):
        log_path = tmp_path / f"{name}.log"
        environment = {"MEDIA_ROOT": str(media_root), **worker_env, **env}
        process = worker_start(env=environment, log_path=log_path, hostname=f"{name}@%h", loaded=loaded)
        process.log = log_path.read_text
        started.append(process)
        return process

    yield start
    for process in started:
        worker_stop(process)


def wait_for(predicate, *, timeout: float, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout} s waiting for {message}.")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(name="api")
def session_api(tester):
    """The tester's API client signed in with a session, as a browser is, so that the media links a job's JSON
    gives work with it too (the suite's own ``api`` forces authentication, which reaches the API only)."""
    client = APIClient()
    client.force_login(tester)
    return client


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (make test installs Debian's chromium where it can).")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    """A fresh context's page; `journey_screenshots` photographs it and closes the context afterwards."""
    return browser.new_context().new_page()


def screenshot_dir() -> Path:
    return Path(os.environ.get("BACKLOT_TEST_ARTEFACTS", ROOT / "var" / "test-artefacts")) / "screenshots"


@pytest.fixture(autouse=True)
def journey_screenshots(request):
    """After every browser test, a full-page screenshot of each page still open (each person's last
    page in a journey), saved as `var/test-artefacts/screenshots/<test>[-<n>].png`; then the contexts
    the test opened are closed."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser = request.getfixturevalue("browser")
    yield
    pages = [page for context in browser.contexts for page in context.pages if not page.is_closed()]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder = screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for number, page in enumerate(pages, start=1):
        path = folder / (f"{name}.png" if len(pages) == 1 else f"{name}-{number}.png")
        path.write_bytes(page.screenshot(full_page=True))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    for context in list(browser.contexts):
        context.close()
