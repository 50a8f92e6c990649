"""Production mode: refuses to start without a real secret, and passes `check --deploy` cleanly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import c2pa_environment

ROOT = Path(__file__).resolve().parents[1]


def _manage(*args, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "SITE_URL", "EMAIL_BACKEND", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def test_production_mode_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="0", ALLOWED_HOSTS="backlot.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_mode_refuses_the_development_key():
    key = "backlot-insecure-development-key-never-use-in-production"
    result = _manage("check", DEBUG="0", ALLOWED_HOSTS="backlot.example.org", SECRET_KEY=key)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_production_mode_needs_allowed_hosts():
    result = _manage("check", DEBUG="0", SECRET_KEY="k" * 30 + "ey-with-enough-variety-0123456789")
    assert result.returncode != 0 and "ALLOWED_HOSTS" in result.stderr


def test_production_settings_pass_check_deploy_with_no_warnings(c2pa_dev_ca):
    production = {
        "DEBUG": "0",
        "ALLOWED_HOSTS": "backlot.example.org",
        "SECRET_KEY": "x7Qm2-Lp9Zr4tVb8NwK1yHc6Js3Df0Ga5Ue-Xo7Ri2Tk9Mn4Pq",
        "SITE_URL": "https://backlot.example.org",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **production, **c2pa_environment(c2pa_dev_ca))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout

    unsigned = _manage("check", "--deploy", "--fail-level", "WARNING", **production)
    assert unsigned.returncode != 0 and "generation.W001" in unsigned.stderr, "clips would go unsigned"


def test_check_deploy_warns_about_a_development_site_url_and_console_email(c2pa_dev_ca):
    """A new box that left SITE_URL and EMAIL_BACKEND at their embedded defaults hears about both."""
    production = {
        "DEBUG": "0",
        "ALLOWED_HOSTS": "backlot.example.org",
        "SECRET_KEY": "x7Qm2-Lp9Zr4tVb8NwK1yHc6Js3Df0Ga5Ue-Xo7Ri2Tk9Mn4Pq",
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **production, **c2pa_environment(c2pa_dev_ca))
    assert result.returncode != 0
    assert "access.W001" in result.stderr and "http://localhost:8000" in result.stderr
    assert "access.W002" in result.stderr and "console.EmailBackend" in result.stderr


def test_a_malformed_setting_is_a_clear_error():
    result = _manage("check", BACKLOT_TORCH_THREADS="lots")
    assert result.returncode != 0
    assert "BACKLOT_TORCH_THREADS must be an integer, not 'lots'" in result.stderr


def test_a_bad_trusted_proxy_or_header_name_stops_the_start_and_says_which():
    result = _manage("check", BACKLOT_TRUSTED_PROXIES="127.0.0.1,10.0.0.0/33")
    assert result.returncode != 0 and "BACKLOT_TRUSTED_PROXIES: '10.0.0.0/33'" in result.stderr
    result = _manage("check", BACKLOT_CLIENT_IP_HEADER="X Forwarded: For")
    assert result.returncode != 0 and "BACKLOT_CLIENT_IP_HEADER must be a header name" in result.stderr


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT compilation is PostgreSQL's")
def test_postgresql_connections_run_without_jit():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
