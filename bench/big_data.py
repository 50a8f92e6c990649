"""List pages against a big database: one million jobs and 10,000 testers (seeded by
`manage.py seed_load` into a PostgreSQL database of its own, created if missing), then p50/p95
latency and queries per page, in process through Django's test client (the whole middleware stack
and template rendering, no network), for the heavy tester (5 % of all jobs), an ordinary tester
and staff. Target: p95 under 50 ms for the gallery, the admin's job list and the API list (the
staff queue is shown too).

    .venv/bin/python bench/big_data.py [--database-url postgres://postgres@127.0.0.1:5432/backlot_bench]
        [--jobs 1000000] [--testers 10000] [--repeat 40] [--only heavy|tester|staff]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from _setup import own_postgres_database

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/backlot_bench"
TARGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--testers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per page (after 3 warm-up ones)")
    parser.add_argument("--only", choices=["heavy", "tester", "staff"], help="only the pages of this person")
    args = parser.parse_args()
    database_setup(args.database_url)
    from django.core.management import call_command

    started = time.monotonic()
    call_command("seed_load", jobs=args.jobs, testers=args.testers, verbosity=1)
    print(f"seed checked/topped up in {time.monotonic() - started:.1f} s")
    rows = measure(args.repeat, only=args.only)
    print(f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"\n{'who':8} {'page':44} {'p50 ms':>7} {'p95 ms':>7} {'CPU ms':>7} {'queries':>7} {'SQL ms':>7}")
    for who, label, p50, p95, cpu, queries, database_ms in rows:
        flag = "" if p95 < TARGET_MS else "   over target"
        print(f"{who:8} {label:44} {p50:7.1f} {p95:7.1f} {cpu:7.1f} {queries:7d} {database_ms:7.1f}{flag}")
    print("CPU ms: this process's CPU time per request, median (on a shared machine, less noisy than the clock)")
    print("SQL ms: time in the database for one request of the page (the rest is Python: views, templates)")


def database_setup(url: str) -> None:
    """Django on ``url`` (PostgreSQL; never the `test` database CI uses), created and migrated if need be."""
    own_postgres_database(url, example="backlot_bench")
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("API_RATE_PER_PERSON", "1000000/min")
    os.environ.setdefault("BACKLOT_VAR_DIR", str(ROOT / "var"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def measure(repeat: int, *, only: str | None = None) -> list[tuple]:
    from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
    from allauth.mfa.models import Authenticator
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    import config.wsgi  # noqa: F401  (the web process's own start: it freezes what is loaded out of the collector's sight)
    from generation import gallery, queue
    from generation.load_seed import STAFF_EMAIL, seed_email
    from generation.models import RenderJob

    settings.DEBUG = False  # no per-query bookkeeping beyond what the capture below asks for
    User = get_user_model()
    heavy, ordinary, staff = (User.objects.get(email=email) for email in (seed_email(1), seed_email(2), STAFF_EMAIL))
    waiting = RenderJob.objects.filter(owner=heavy, state=RenderJob.State.QUEUED).order_by("-queued_at").first()

    def client_for(user):
        """A client signed in as ``user`` as allauth's sign-in leaves a session: for staff, who must have an
        authenticator, with the second step passed (access.two_factor refuses a session without it)."""
        client = Client()
        client.force_login(user)
        authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if authenticator is not None:
            session = client.session
            session[AUTHENTICATION_METHODS_SESSION_KEY] = [
                {"method": "password", "at": time.time(), "email": user.email},
                {"method": "mfa", "at": time.time(), "id": authenticator.pk, "type": "totp"},
            ]
            session["account_authentication_methods_user"] = str(user.pk)
            session.save()
        return client

    def deep(user, path: str, pages: int) -> str:
        """The address of the page ``pages`` pages deep, by the cursors the pages themselves hand out."""
        cursor = ""
        for _ in range(pages):
            page = gallery.keyset_page(gallery.jobs_for(user), cursor=cursor, size=24 if path == "/clips/" else 50)
            cursor = page.older or cursor
        return f"{path}?{urlencode({'cursor': cursor})}"

    today = timezone.localdate() - timedelta(days=60)
    month_ago = today - timedelta(days=30)
    heavy_client, ordinary_client, staff_client = client_for(heavy), client_for(ordinary), client_for(staff)
    pages = [
        ("heavy", "gallery, first page", heavy_client, "/clips/"),
        ("heavy", "gallery, 20 pages deep", heavy_client, deep(heavy, "/clips/", 20)),
        ("heavy", "gallery, failed only", heavy_client, "/clips/?state=failed"),
        ("heavy", "gallery, one model", heavy_client, "/clips/?model=wan2.1-14b"),
        (
            "heavy",
            "gallery, one month's dates",
            heavy_client,
            f"/clips/?since={month_ago:%Y-%m-%d}&until={today:%Y-%m-%d}",
        ),
        ("heavy", "gallery, search 'lighthouse'", heavy_client, "/clips/?q=lighthouse"),
        ("heavy", "API jobs, first page", heavy_client, "/api/v1/jobs/"),
        ("heavy", "API jobs, 20 pages deep", heavy_client, deep(heavy, "/api/v1/jobs/", 20)),
        ("heavy", "API jobs, queued only", heavy_client, "/api/v1/jobs/?state=queued"),
        ("heavy", "job status (progress poll)", heavy_client, f"/clips/{waiting.pk}/status/" if waiting else None),
        ("tester", "gallery, first page", ordinary_client, "/clips/"),
        ("tester", "API jobs, first page", ordinary_client, "/api/v1/jobs/"),
        ("staff", "staff queue /staff/queue/", staff_client, "/staff/queue/"),
        # The board is kept 2 s (generation/queue.py, queue_board_cached): each request here works it out.
        ("staff", "staff queue, its board worked out", staff_client, "/staff/queue/", queue.queue_board_forget),
        ("staff", "admin job list", staff_client, "/admin/generation/renderjob/"),
        ("staff", "admin job list, page 50", staff_client, "/admin/generation/renderjob/?p=50"),
        ("staff", "admin job list, state=queued", staff_client, "/admin/generation/renderjob/?state__exact=queued"),
        ("staff", "admin job list, one model", staff_client, "/admin/generation/renderjob/?model_key=ltx-video"),
    ]
    rows = []
    for who, label, client, url, *before in pages:
        if url is None or only not in (None, who):
            continue
        prepare = before[0] if before else lambda: None  # before each request, not timed
        for _ in range(3):
            prepare()
            response = client.get(url)
        if response.status_code != 200:
            sys.exit(f"{who} {label}: {url} answered {response.status_code}")
        times, cpu = [], []
        for _ in range(repeat):
            prepare()
            started, cpu_started = time.perf_counter(), time.process_time()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        prepare()
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        database_ms = sum(float(query["time"]) for query in queries.captured_queries) * 1000
        rows.append((who, label, statistics.median(times), p95, statistics.median(cpu), len(queries), database_ms))
    return rows


if __name__ == "__main__":
    main()
