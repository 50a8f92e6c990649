"""/livez and /readyz against the real parts: a broker that is stopped (a Redis port nobody listens on, a
filesystem broker whose folder cannot be written), a media folder that is read-only or a disk short of space, a
model with waiting jobs and no live worker. Each makes /readyz answer 503 naming the check and why; fixing it
makes it answer 200 again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from access.models import Programme
from access.suspensions import pause
from config.brokers import filesystem_broker_options
from generation.models import Worker
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def read_only(folder):
    """``folder`` refuses new files while the block runs: by its mode, or, for root (whom modes do not stop),
    by the immutable attribute of ext4 and most Linux filesystems."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is unavailable: nothing makes a folder read-only for root")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


@pytest.fixture
def ready(settings, tmp_path):
    """A deployment that is ready: its own media folder and filesystem broker, a small free-space threshold."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(tmp_path / "broker")
    settings.BACKLOT_READY_MIN_FREE_MB = 1
    settings.BACKLOT_METRICS_TOKEN = MONITOR_TOKEN
    return settings


MONITOR_TOKEN = "a-monitor-token-of-enough-length"


def _ready(client, *, monitor: bool = True):
    """/readyz's status and body, as the monitor (with the metrics token) or as anyone else asks."""
    headers = {"Authorization": f"Bearer {MONITOR_TOKEN}"} if monitor else {}
    response = client.get("/readyz", headers=headers)
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again at once: nothing listens there


def _redis_up(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_livez_answers_without_asking_anything_else(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/livez")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_200_with_every_check_when_all_is_well(client, ready, programme):
    status, body = _ready(client)

    assert status == 200, body
    assert body["status"] == "ok" and body["failing"] == {}
    assert set(body["checks"]) == {"database", "cache", "broker", "media", "workers"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["media"]["free_mb"] >= 1
    assert list((ready.MEDIA_ROOT).iterdir()) == [], "the probe file is deleted again"


def test_readyz_is_cheap(client, ready, programme, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        status, _ = _ready(client)
    assert status == 200


def test_anyone_but_the_monitor_learns_which_checks_fail_but_not_why(client, ready, caplog):
    """Error text, paths, queue depths and worker counts are for the monitor; the reasons are also logged."""
    ready.CELERY_BROKER_URL = f"redis://127.0.0.1:{_dead_port()}/12"

    status, body = _ready(client, monitor=False)

    assert status == 503 and body["status"] == "fail" and set(body["failing"]) == {"broker"}
    assert "checks" not in body and "127.0.0.1" not in json.dumps(body) and "refused" not in json.dumps(body)
    assert "backlot.not_ready broker=" in caplog.text
    status, body = _ready(client, monitor=True)
    assert status == 503 and "checks" in body and "refused" in body["failing"]["broker"].lower()


def test_a_stopped_redis_broker_fails_readiness_until_it_is_back(client, ready):
    ready.CELERY_BROKER_URL = f"redis://127.0.0.1:{_dead_port()}/12"

    status, body = _ready(client)

    assert status == 503
    assert body["status"] == "fail" and set(body["failing"]) == {"broker"}
    assert "Connection" in body["failing"]["broker"] or "refused" in body["failing"]["broker"]
    assert body["checks"]["database"]["ok"] and body["checks"]["media"]["ok"]

    live = "redis://127.0.0.1:6379/12"
    if not _redis_up(live):
        pytest.skip("no Redis on 127.0.0.1:6379 to show readiness coming back")
    ready.CELERY_BROKER_URL = live
    assert _ready(client)[0] == 200


def test_a_filesystem_broker_whose_folder_cannot_be_written_fails_readiness(client, ready, tmp_path):
    queue = tmp_path / "broker" / "queue"
    with read_only(queue):
        status, body = _ready(client)
    assert status == 503
    assert set(body["failing"]) == {"broker"}
    assert "Permission" in body["failing"]["broker"] or "not permitted" in body["failing"]["broker"]

    assert _ready(client)[0] == 200


def test_a_read_only_media_folder_fails_readiness_until_it_is_writable(client, ready):
    with read_only(ready.MEDIA_ROOT):
        status, body = _ready(client)
    assert status == 503
    assert set(body["failing"]) == {"media"}
    assert "Permission" in body["failing"]["media"] or "not permitted" in body["failing"]["media"]

    assert _ready(client)[0] == 200


def test_a_media_disk_short_of_space_fails_readiness(client, ready):
    free_mb = shutil.disk_usage(ready.MEDIA_ROOT).free // (1024 * 1024)
    ready.BACKLOT_READY_MIN_FREE_MB = free_mb + 10_000

    status, body = _ready(client)

    assert status == 503
    assert "MiB free on the media disk" in body["failing"]["media"]
    assert f"BACKLOT_READY_MIN_FREE_MB={free_mb + 10_000}" in body["failing"]["media"]
    ready.BACKLOT_READY_MIN_FREE_MB = 1
    assert _ready(client)[0] == 200


def _worker(hostname="gpu0@box", queues="render.ltx-video", **fields):
    now = timezone.now()
    return Worker.objects.create(hostname=hostname, queues=queues, started_at=now, last_seen=now, **fields)


def test_a_model_with_waiting_jobs_and_no_live_worker_fails_readiness_until_one_beats(client, ready, tester):
    RenderJobFactory(owner=tester, model_key="ltx-video", state="queued")
    _worker("films@box", queues="films")  # alive, but not on the model's queue

    status, body = _ready(client)

    assert status == 503
    assert set(body["failing"]) == {"workers"}
    assert body["failing"]["workers"].startswith("ltx-video: 1 job waiting and no live worker")
    assert body["checks"]["workers"]["models"]["ltx-video"] == {"waiting": 1, "live_workers": 0}

    worker = _worker()
    status, body = _ready(client)
    assert status == 200, body
    assert body["checks"]["workers"]["models"]["ltx-video"] == {"waiting": 1, "live_workers": 1}

    # A worker silent for more than three heartbeats, or one that marked itself unhealthy, is no worker.
    Worker.objects.filter(pk=worker.pk).update(last_seen=timezone.now() - timedelta(hours=1))
    assert _ready(client)[0] == 503
    Worker.objects.filter(pk=worker.pk).update(last_seen=timezone.now(), unhealthy_since=timezone.now())
    assert _ready(client)[0] == 503
    Worker.objects.filter(pk=worker.pk).update(unhealthy_since=None, state=Worker.State.STOPPED)
    assert _ready(client)[0] == 503
    Worker.objects.filter(pk=worker.pk).update(state=Worker.State.BUSY)
    assert _ready(client)[0] == 200


def test_models_nobody_waits_for_or_no_active_programme_offers_do_not_fail_readiness(client, ready, tester):
    RenderJobFactory(owner=tester, model_key="ltx-video", state="queued", held=True)  # staff hold it
    RenderJobFactory(owner=tester, model_key="ltx-video", state="succeeded")
    assert _ready(client)[0] == 200

    RenderJobFactory(owner=tester, model_key="ltx-video", state="queued")
    assert _ready(client)[0] == 503
    Programme.objects.update(model_keys=["wan2.1-1.3b"])  # nobody offers LTX any more
    assert _ready(client)[0] == 200
    Programme.objects.update(model_keys=[])
    for each in Programme.objects.all():
        pause(programme=each, reason="Model update")
    RenderJobFactory(owner=tester, model_key="ltx-video", state="queued")  # (the pause cancelled the others)
    status, body = _ready(client)
    assert status == 200, body
    assert body["checks"]["workers"]["models"]["ltx-video"]["waiting"] == 1


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz"])
def test_monitors_are_never_rate_limited_or_turned_away(client, ready, path):
    for _ in range(60):
        assert client.get(path).status_code == 200


def _manage(*args, **env):
    import sys

    from tests.test_settings import ROOT

    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


PROBE = (
    "from django.test import Client; c = Client(HTTP_HOST='backlot.example.org'); "
    "print('ANSWERS', [c.get(p).status_code for p in ('/livez', '/metrics', '/')])"
)


def test_in_production_monitors_are_answered_over_plain_http_and_pages_are_not():
    production = {
        "DEBUG": "0",
        "ALLOWED_HOSTS": "backlot.example.org",
        "SECRET_KEY": "x7Qm2-Lp9Zr4tVb8NwK1yHc6Js3Df0Ga5Ue-Xo7Ri2Tk9Mn4Pq",
    }
    result = _manage("shell", "-c", PROBE, **production)
    assert result.returncode == 0, result.stderr
    assert "ANSWERS [200, 404, 301]" in result.stdout  # /metrics is off (404), not redirected


def test_bad_monitoring_settings_stop_the_start_and_say_which():
    result = _manage("check", BACKLOT_METRICS_NETWORKS="10.0.0.0/33")
    assert result.returncode != 0 and "BACKLOT_METRICS_NETWORKS: '10.0.0.0/33'" in result.stderr
    result = _manage("check", BACKLOT_METRICS_TOKEN="short")
    assert result.returncode != 0 and "BACKLOT_METRICS_TOKEN must be at least 16 characters" in result.stderr
    result = _manage("check", SENTRY_DSN="https://public@sentry.example.invalid/1")
    assert result.returncode == 0, result.stderr
