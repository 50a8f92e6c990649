"""What a monitor's requests cost: `/readyz` (every readiness check) and the web's `/metrics` (computed from the
database at each scrape) with N jobs finished inside BACKLOT_METRICS_WINDOW_MINUTES, beside `/healthz` (the
floor of a request), in process through Django's test client with the monitor's token. Runs on a throwaway
SQLite database and filesystem broker unless DATABASE_URL / CELERY_BROKER_URL name others (a PostgreSQL
database of its own is created if missing; the jobs seeded stay in it).

    .venv/bin/python bench/watching.py [--finished 20000] [--repeat 20]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backlot_watching .venv/bin/python bench/watching.py
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
TOKEN = secrets.token_urlsafe(24)


def seed_finished(count: int) -> None:
    """``count`` jobs finished over the last half of the metrics window, mostly succeeded, with timings."""
    from _setup import tester
    from django.conf import settings
    from django.utils import timezone

    from access.policy import current_grant
    from generation.models import RenderJob
    from generation.registry import MODELS

    user, _ = tester()
    grant = current_grant(user)
    now = timezone.now()
    window = timedelta(minutes=settings.BACKLOT_METRICS_WINDOW_MINUTES)
    keys = list(MODELS)
    rows = []
    for index in range(count):
        finished = now - window / 2 * (index / max(1, count))
        failed = index % 10 == 0
        rows.append(
            RenderJob(
                owner=user,
                grant=grant,
                prompt="a slow pan over a neon city at night",
                model_key=keys[index % len(keys)],
                num_frames=25,
                width=256,
                height=256,
                num_steps=4,
                guidance_scale=3.0,
                seed=index,
                state=RenderJob.State.FAILED if failed else RenderJob.State.SUCCEEDED,
                error="CUDA out of memory" if failed else "",
                progress_step=4,
                progress_total=4,
                started_at=finished - timedelta(seconds=20 + index % 40),
                finished_at=finished,
                gpu_seconds=15.0 + index % 30,
            )
        )
    RenderJob.objects.bulk_create(rows, batch_size=2000)


def timed(client, path: str, repeat: int) -> tuple[int, float, float]:
    """(status, median ms, p95 ms) of ``repeat`` requests after two warm-up ones."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(2):
        status = client.get(path, headers=headers).status_code
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        status = client.get(path, headers=headers).status_code
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return status, statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", type=int, default=20_000, help="jobs finished inside the metrics window")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    os.environ["BACKLOT_METRICS_TOKEN"] = TOKEN
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
    os.environ.setdefault("BACKLOT_READY_MIN_FREE_MB", "1")
    from _setup import django_setup, own_postgres_database

    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        own_postgres_database(os.environ["DATABASE_URL"], example="backlot_watching")
    django_setup()
    from django.db import connection
    from django.test import Client

    started = time.perf_counter()
    seed_finished(args.finished)
    print(f"{args.finished:,} finished jobs seeded in {time.perf_counter() - started:.1f} s ({connection.vendor})")
    client = Client()
    print(f"{'request':10} {'status':>6} {'median ms':>10} {'p95 ms':>8}")
    for path in ("/healthz", "/readyz", "/metrics"):
        status, median, p95 = timed(client, path, args.repeat)
        print(f"{path:10} {status:6d} {median:10.1f} {p95:8.1f}")
    print("load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]))


if __name__ == "__main__":
    main()
