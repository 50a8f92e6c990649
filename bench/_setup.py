"""Shared set-up for the benchmarks: a throwaway environment and a tester with a roomy grant."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]


def django_setup() -> None:
    """Django on a throwaway SQLite database and broker folder (unless the environment names others),
    with the repository's smoke models and no limits that a benchmark would trip by design."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("BACKLOT_VAR_DIR", tempfile.mkdtemp(prefix="backlot-bench-"))
    os.environ.setdefault("BACKLOT_MODELS_DIR", str(ROOT / "var" / "models"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("API_RATE_PER_PERSON", "100000/min")
    os.environ.setdefault("API_RATE_PER_TOKEN", "100000/min")
    os.environ.setdefault("LEAK_BURST_MIN_JOBS", "1000000")  # a benchmark is a burst by design
    os.environ.setdefault("BACKLOT_RATE_SUBMISSIONS", "1000000/h")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("smoke_build", "ltx-video", "--if-missing", verbosity=0)


def bench_database(url: str, *, example: str) -> tuple[str, str]:
    """The name of the PostgreSQL database ``url`` names and the URL of the server's `postgres` database; exits on
    a URL that is not PostgreSQL, or that names `test` (CI's) or another shared database: a benchmark gets one of
    its own."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql") or not name:
        sys.exit(f"This benchmark needs a PostgreSQL URL with a database name, not {url!r}.")
    if name in ("test", "postgres") or name.startswith("test_"):
        sys.exit(f"Refusing the {name!r} database: use one of its own, e.g. {example}.")
    return name, parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)


def own_postgres_database(url: str, *, example: str) -> None:
    """Create the PostgreSQL database that ``url`` names if it is missing (see bench_database)."""
    import psycopg

    name, admin_url = bench_database(url, example=example)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def server_env(url: str, work: Path, *, example: str, **extra: str) -> dict:
    """The environment of a production-like server (DEBUG off, a fresh secret key) for a benchmark, on a
    PostgreSQL database of its own (see own_postgres_database), keeping its files under ``work``. A benchmark is
    a burst of work from one address by design: no rate limits or leak alerts. ``extra`` adds variables."""
    own_postgres_database(url, example=example)
    return (
        os.environ
        | {
            "DATABASE_URL": url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "BEHIND_TLS_PROXY": "0",
            "SECURE_HSTS_SECONDS": "0",
            "BACKLOT_VAR_DIR": str(work),
            "STATIC_ROOT": str(work / "static"),
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_LEVEL": "WARNING",
            "API_RATE_PER_PERSON": "1000000/min",
            "API_RATE_PER_TOKEN": "1000000/min",
            "LEAK_BURST_MIN_JOBS": "1000000",
            "LEAK_MAX_NETWORKS": "1000",
        }
        | extra
    )


def tester():
    """(user, API token with read and generate scopes) in a fresh programme with a roomy grant."""
    from access.models import Role
    from access.people import user_create
    from access.programmes import cohort_create, membership_add, programme_create
    from access.tokens import token_create

    programme = programme_create(name=f"Bench {secrets.token_hex(3)}")
    cohort = cohort_create(
        programme=programme,
        name="Bench",
        max_frames=257,
        max_steps=100,
        gpu_seconds_per_day=10**7,
        gpu_seconds_total=10**8,
        max_queued_jobs=10**6,
    )
    user = user_create(email=f"bench-{secrets.token_hex(4)}@example.org", password=secrets.token_urlsafe(16))
    membership_add(user=user, programme=programme, role=Role.ARTIST, cohort=cohort)
    _, token = token_create(user=user, name="bench", scopes=["read", "generate"])
    return user, token
