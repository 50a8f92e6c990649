"""Fair share at depth, without the fleet: the claim, queue positions and the staff queue page with 2,000 jobs
waiting (half of them from 10 heavy users with 5,000 finished jobs each, spread over the fair-share window)
and 64 workers, on PostgreSQL; optionally the same against another checkout's code, in the same run.

    .venv/bin/python bench/fair_share.py [--compare-with /path/to/other/checkout] [--waiting 2000]
        [--history 5000] [--database-url postgres://postgres@127.0.0.1:5432/backlot_fair]

Each checkout gets a database of its own (the URL's name, then _0, _1), dropped and made again. Figures: the
claim's fair-order query and fair_queue's first row in PostgreSQL (EXPLAIN ANALYZE, median of 5),
job_claim_next one claim at a time (p50/p95 of 40, and the mean CPU of its PostgreSQL backend, read from
/proc, and of Python: what a claim costs whatever the machine's load), queue positions of every waiting job
(fair_positions) and the staff queue page rendered (median of 5), with the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import bench_database

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/backlot_fair"
CLIP = {"width": 768, "height": 512, "num_frames": 161, "num_steps": 40, "guidance_scale": 3.0}
MODELS = ("ltx-video", "cogvideox-5b", "wan2.1-14b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare-with", type=Path, help="another checkout whose code is measured first")
    parser.add_argument("--waiting", type=int, default=2000)
    parser.add_argument("--history", type=int, default=5000, help="finished jobs of each heavy user")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # one measurement, in a child process
    args = parser.parse_args()
    if args.code:
        print(json.dumps(measure(args)))
        return
    bench_database(args.database_url, example="backlot_fair")
    trees = ([args.compare_with.resolve()] if args.compare_with else []) + [ROOT]
    results = []
    for index, tree in enumerate(trees):
        url = f"{args.database_url}_{index}"
        command = [sys.executable, str(Path(__file__).resolve()), "--code", str(tree), "--database-url", url]
        command += ["--waiting", str(args.waiting), "--history", str(args.history)]
        # In the checkout itself: Celery's Django fix-up puts the working directory first on sys.path.
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tree)
        if done.returncode:
            sys.exit(f"{tree}: {done.stderr[-3000:]}")
        results.append((tree, json.loads(done.stdout.strip().splitlines()[-1])))
    names = {
        "claim_query_ms": "claim's fair-order query (PostgreSQL)",
        "fair_queue_ms": "fair_queue's first row (PostgreSQL)",
        "claim_p50_ms": "job_claim_next p50",
        "claim_p95_ms": "job_claim_next p95",
        "claim_server_cpu_ms": "  its PostgreSQL backend's CPU, mean",
        "claim_client_cpu_ms": "  its Python CPU, mean",
        "positions_ms": "queue positions (fair_positions)",
        "page_ms": "staff queue page",
    }
    print(f"{args.waiting} waiting, 10 heavy users with {args.history} finished jobs each, 64 workers")
    for tree, figures in results:
        if not Path(figures["code"]).is_relative_to(tree):
            sys.exit(f"{tree}'s measurement ran {figures['code']}, another checkout's code")
        load = f"load average {figures['load_before']:.1f} → {figures['load_after']:.1f}"
        print(f"\n{tree} ({load})")
        for key, name in names.items():
            print(f"  {name:<40} {figures[key]:9.1f} ms")
    if len(results) == 2:
        print("\nratio, first checkout / this one:")
        for key, name in names.items():
            print(f"  {name:<40} {results[0][1][key] / (results[1][1][key] or float('nan')):9.1f}×")


def measure(args) -> dict:
    """Runs in a child process: a fresh database for the checkout at args.code, the queue, the figures."""
    import psycopg

    name, admin_url = bench_database(args.database_url, example="backlot_fair")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.chdir(args.code)
    sys.path.insert(0, str(args.code))
    # An editable install from another checkout would fill in modules this one lacks (see bench/fleet.py).
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    os.environ.update(
        {
            "DATABASE_URL": args.database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "BACKLOT_VAR_DIR": tempfile.mkdtemp(prefix="backlot-fair-"),
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False  # no per-query bookkeeping (the static files stay those of development)
    from django.db import connection, transaction
    from django.test import RequestFactory

    from generation import queue, staff_views

    call_command("migrate", verbosity=0)
    hint, staff = _seed(waiting=args.waiting, history=args.history)
    load_before = os.getloadavg()[0]

    def plan_ms(sql, params) -> float:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE) " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            transaction.set_rollback(True)
        if os.environ.get("FAIR_SHARE_PLANS"):
            print(plan, file=sys.stderr)
        return float(re.search(r"Execution Time: ([0-9.]+) ms", plan).group(1))

    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(capture):
        if hasattr(queue, "_claim_head"):  # the claim in one statement: pick, lock, take
            queue._claim_head(hint_id=hint, worker="explain", task_id="explain")
            claim_sql = next(item for item in captured if "WITH RECURSIVE" in item[0])
        else:
            queue._fair_first(MODELS[0])
            claim_sql = captured[-1]
        transaction.set_rollback(True)
    first_sql = queue.fair_queue(MODELS[0]).values_list("pk", flat=True)[:1].query.sql_with_params()
    claim_query = statistics.median(plan_ms(*claim_sql) for _ in range(5))
    fair_first = statistics.median(plan_ms(*first_sql) for _ in range(5))
    positions = statistics.median(_timed(lambda: queue.fair_positions(MODELS)) for _ in range(5))
    request = RequestFactory().get("/staff/queue/")
    request.user = staff

    def staff_page():
        if hasattr(queue, "queue_board_forget"):
            queue.queue_board_forget()  # the page working its board out, not the board kept for 2 s
        staff_views.queue.__wrapped__(request)

    page = statistics.median(_timed(staff_page) for _ in range(5))
    claims, server_cpu, client_cpu = [], 0.0, 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    for index in range(40):
        server, client, started = _process_cpu_ms(backend), time.thread_time(), time.perf_counter()
        queue.job_claim_next(hint_id=hint, worker=f"probe{index}", task_id=f"p{index}")
        claims.append((time.perf_counter() - started) * 1000)
        server_cpu += _process_cpu_ms(backend) - server
        client_cpu += (time.thread_time() - client) * 1000
    claims.sort()
    return {
        "claim_query_ms": claim_query,
        "fair_queue_ms": fair_first,
        "claim_p50_ms": claims[19],
        "claim_p95_ms": claims[37],
        "claim_server_cpu_ms": server_cpu / 40,
        "claim_client_cpu_ms": client_cpu / 40,
        "positions_ms": positions,
        "page_ms": page,
        "code": queue.__file__,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def _process_cpu_ms(pid: int) -> float:
    """The CPU time (user and system) a local process has used, in ms: for a PostgreSQL backend, the server's
    own work for its session, whatever the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _seed(*, waiting: int, history: int):
    """1,000 testers (10 heavy), the heavy users' history spread over the last 23 hours, ``waiting`` jobs
    of the first model (every other one a heavy user's), and 64 workers over the three models, each busy
    with a running job."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from access.models import Role
    from access.programmes import cohort_create, membership_add, programme_create
    from generation.models import RenderJob, Worker

    random.seed(1)
    User = get_user_model()
    programme = programme_create(name="Fair share")
    cohort = cohort_create(programme=programme, name="Testers", max_queued_jobs=1000)
    User.objects.bulk_create(User(email=f"fair-{index:04d}@example.org") for index in range(1000))
    users = list(User.objects.filter(email__startswith="fair-").order_by("email").values_list("pk", flat=True))
    membership_add(user=User.objects.get(pk=users[0]), programme=programme, role=Role.ARTIST, cohort=cohort)
    grant = User.objects.get(pk=users[0]).grants.get()
    heavy, others = users[:10], users[10:510]
    staff = User.objects.create(email="fair-staff@example.org", is_staff=True, is_superuser=True)
    base = 10**12

    def job(owner, state, n, model=MODELS[0], **fields):
        fields.update(prompt="probe", seed=0, model_key=model, state=state, mark_code=base + n, **CLIP)
        return RenderJob(owner_id=owner, grant=grant, **fields)

    rows, n = [], 0
    for owner in heavy:
        for _ in range(history):
            rows.append(job(owner, "succeeded", n, charged_seconds=30.0, gpu_seconds=30.0))
            n += 1
    for index in range(waiting):
        owner = heavy[index // 2 % len(heavy)] if index % 2 else others[index // 2 % len(others)]
        rows.append(job(owner, "queued", n, charged_seconds=30.0))
        n += 1
    now = timezone.now()
    for index in range(64):
        rows.append(job(others[index], "running", n, model=MODELS[index % 3], charged_seconds=30.0, started_at=now))
        n += 1
    RenderJob.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:  # the history over the window, not all in this hour
        cursor.execute(
            "UPDATE generation_renderjob SET queued_at = queued_at - (random() * interval '23 hours') "
            "WHERE state = 'succeeded'"
        )
        cursor.execute("VACUUM ANALYZE")
    running = list(RenderJob.objects.filter(state="running").values_list("pk", "model_key"))
    Worker.objects.bulk_create(
        Worker(
            hostname=f"gpu{index}@node{index // 8}",
            queues=f"render.{model}",
            state="busy",
            current_job_id=pk,
            started_at=now,
            last_seen=now,
        )
        for index, (pk, model) in enumerate(running)
    )
    hint = RenderJob.objects.create(
        owner=staff, grant=grant, prompt="hint", seed=0, model_key=MODELS[0], state="cancelled", **CLIP
    )
    return hint.pk, staff


if __name__ == "__main__":
    main()
