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
