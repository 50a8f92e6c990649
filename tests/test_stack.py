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
