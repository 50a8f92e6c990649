"""What watching a clip costs the web server: server CPU time per request, read from /proc for the gunicorn
workers, for each progress path beside /healthz (one database read on the lean path: the floor of a Django
request that reads) and /livez (no read, through every middleware) in the same run, then the latency under
many concurrent watchers on the lean path.

Paths: the clip page's poll on its lean path (/clips/<id>/progress/?t=…, generation/progress.py), the full
status fragment it hands over to at the end (/clips/<id>/status/), and the API's job detail.

Runs gunicorn (DEBUG=0, 2 workers x 4 threads, as the handbook's default) on a PostgreSQL database of its
own (created if missing; never `test`).

    .venv/bin/python bench/progress.py [--requests 2000] [--watchers 200] [--seconds 20]
        [--database-url postgres://postgres@127.0.0.1:5432/backlot_progress]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from http.client import HTTPConnection
from pathlib import Path

from _setup import server_env
from load import free_port, manage, wait_for

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/backlot_progress"
TICKS = os.sysconf("SC_CLK_TCK")

SETUP = """
import json
from datetime import timedelta
from types import SimpleNamespace
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from access.tokens import token_create
from generation import progress
from generation.models import RenderJob
from tests.factories import RenderJobFactory
import bench._setup as setup
user, token = setup.tester()
job = RenderJobFactory(owner=user, grant=user.grants.get(), state="running", progress_step=7, progress_total=30,
                       num_steps=30, started_at=timezone.now() - timedelta(seconds=20))
session = SessionStore()
session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), "allauth.account.auth_backends.AuthenticationBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
request = SimpleNamespace(user=user, session=session)
tokens = [token_create(user=user, name=f"bench {n}", scopes=["read"])[1] for n in range(60)]
print("SETUP" + json.dumps({"job": str(job.pk), "session": session.session_key, "tokens": tokens,
                            "progress": progress.progress_url(request, job)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=1000,
        help="sequential requests per path for CPU time (at most 3,000: two API paths share 60 tokens at 120 a minute)",
    )
    parser.add_argument("--watchers", type=int, default=200, help="concurrent watchers polling once a second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the watchers poll")
    parser.add_argument("--database-url", default=os.environ.get("PROGRESS_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if args.requests < 10 or args.watchers < 1 or args.seconds <= 0:
        sys.exit("--requests must be at least 10, --watchers and --seconds positive.")

    work = Path(tempfile.mkdtemp(prefix="backlot-progress-"))
    # The API's rates as configured by default (each of 60 tokens stays within 120 a minute): a throttle's
    # bookkeeping grows with the rate it allows.
    env = server_env(args.database_url, work, example="backlot_progress", **{"API_RATE_PER_TOKEN": "120/min"})
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    out = manage(env, "shell", "-c", SETUP, capture_output=True, text=True).stdout
    world = json.loads(out.split("SETUP", 1)[1])
    port = free_port()
    log = (work / "gunicorn.log").open("w")
    server = subprocess.Popen(
        # No recycling of workers mid-run: their CPU time is read from /proc by process id.
        [PYTHON, "-m", "gunicorn", "config.wsgi", "--config", "platform/gunicorn.conf.py", "--max-requests", "0"],
        cwd=ROOT,
        env=env | {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "4"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(port, server)
        time.sleep(1)
        workers = _children(server.pid)
        cookie = {"Cookie": f"sessionid={world['session']}", "HX-Request": "true"}
        tokens = [{"Authorization": f"Bearer {token}"} for token in world["tokens"]]
        paths = [
            ("/healthz", "GET /healthz (the floor, lean)", {}),
            ("/livez", "GET /livez (no read, full stack)", {}),
            (world["progress"], "GET /clips/<id>/progress/ (lean poll)", cookie),
            (f"/clips/{world['job']}/status/", "GET /clips/<id>/status/ (full fragment)", cookie),
            (f"/api/v1/jobs/{world['job']}/progress/", "GET /api/v1/jobs/<id>/progress/ (lean API)", tokens),
            (f"/api/v1/jobs/{world['job']}/", "GET /api/v1/jobs/<id>/ (API detail)", tokens),
        ]
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"{'request':46} {'CPU ms/req':>10} {'req/s on 2 cores':>17} {'p50 ms':>7} {'p95 ms':>7}")
        for path, label, headers in paths:
            cpu, latencies = _sequential(port, path, headers, args.requests, workers)
            print(
                f"{label:46} {cpu * 1000:10.2f} {2 / cpu:17.0f} "
                f"{statistics.median(latencies) * 1000:7.1f} {_p95(latencies) * 1000:7.1f}"
            )
        latencies, errors = asyncio.run(_watchers(port, world["progress"], cookie, args.watchers, args.seconds))
        print(
            f"\n{args.watchers} watchers polling the lean path once a second for {args.seconds:.0f} s: "
            f"{len(latencies)} polls, p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {_p95(latencies) * 1000:.1f} ms, errors {errors}; load average {os.getloadavg()[0]:.2f}"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    print(f"gunicorn log: {work / 'gunicorn.log'}")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def _sequential(port: int, path: str, headers, count: int, workers: list[int]) -> tuple[float, list[float]]:
    """``headers``: one dict for every request, or a list to take in turn (API tokens, each within its rate)."""
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    turns = [{"Host": "127.0.0.1", **one} for one in (headers if isinstance(headers, list) else [headers])]
    for n in range(20):  # warm up: first requests load templates and open connections
        connection.request("GET", path, headers=turns[n % len(turns)])
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"{path} answered {response.status}")
    before, latencies = _cpu_seconds(workers), []
    for n in range(count):
        began = time.perf_counter()
        connection.request("GET", path, headers=turns[n % len(turns)])
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - began)
    connection.close()
    return (_cpu_seconds(workers) - before) / count, latencies


async def _watchers(port: int, path: str, headers: dict, watchers: int, seconds: float):
    latencies, errors = [], 0
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (request + "\r\n").encode()
    deadline = time.monotonic() + seconds

    async def watch(offset: float) -> None:
        nonlocal errors
        await asyncio.sleep(offset)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < deadline:
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))
        writer.close()

    await asyncio.gather(*(watch(n / watchers) for n in range(watchers)))
    return latencies, errors


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


if __name__ == "__main__":
    main()
