"""The suite runs on whatever the environment names: prove it is really that stack."""

import os

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app


@pytest.mark.django_db
def test_the_database_is_the_one_configured():
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres", "pgsql")) else "sqlite"
    assert connection.vendor == expected


def test_the_broker_is_the_one_configured():
    url = os.environ.get("CELERY_BROKER_URL", "filesystem://")
    assert url == settings.CELERY_BROKER_URL
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.transport.driver_type == url.split("://")[0]


def test_each_xdist_process_has_a_broker_of_its_own(tmp_path):
    from tests.isolation import broker_for

    redis = {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}
    assert broker_for("gw0", redis) == {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/1"}
    assert broker_for("gw1", redis) == {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/2"}
    assert broker_for("gw0", {"CELERY_BROKER_URL": "redis://:secret@cache:6380"}) == {
        "CELERY_BROKER_URL": "redis://:secret@cache:6380/1"
    }
    folder = {"BACKLOT_BROKER_DIR": str(tmp_path / "broker")}
    assert broker_for("gw1", folder) == {"BACKLOT_BROKER_DIR": str(tmp_path / "broker-gw1")}
    assert broker_for("gw1", {"BACKLOT_VAR_DIR": str(tmp_path)}) == {"BACKLOT_BROKER_DIR": str(tmp_path / "broker-gw1")}
    if worker := os.environ.get("PYTEST_XDIST_WORKER"):
        url = settings.CELERY_BROKER_URL
        redis_of_its_own = url.startswith("redis") and not url.endswith("/0")
        assert redis_of_its_own or settings.BROKER_DIR.name.endswith(worker)


def test_xdist_processes_that_fill_the_cores_run_torch_and_numpy_on_one_thread_each(monkeypatch):
    from tests.isolation import threads_for

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert threads_for({"PYTEST_XDIST_WORKER_COUNT": "2"}) == dict.fromkeys(
        ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"], "1"
    )
    assert threads_for({"PYTEST_XDIST_WORKER_COUNT": "2", "OMP_NUM_THREADS": "2"})["OMP_NUM_THREADS"] == "2"
    assert threads_for({"PYTEST_XDIST_WORKER_COUNT": "1"}) == {}  # one process: every core is its own
    assert threads_for({}) == {}
    if os.environ.get("PYTEST_XDIST_WORKER") and int(os.environ["PYTEST_XDIST_WORKER_COUNT"]) >= (os.cpu_count() or 1):
        import torch

        assert torch.get_num_threads() == int(os.environ["OMP_NUM_THREADS"])
