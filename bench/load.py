"""Many testers at once against gunicorn on loopback: each fetches the sign-in page and signs in
through the allauth form (with its CSRF token), then, until the time is up, browses the gallery,
submits a job through the form or through the API with a personal token, polls its progress the way
the clip page does, and lists its jobs through the API. No worker runs, so jobs stay queued and the
queue grows as it goes. Prints, per endpoint, requests per second, p50/p95/p99 latency, errors and
database queries per request (from the X-DB-Queries header that BACKLOT_QUERY_COUNT_HEADER adds).

Runs against a PostgreSQL database of its own (created if missing; never `test`), seeded with
`manage.py seed_load` (testers with roomy grants and some history), with DEBUG off as in production.

    .venv/bin/python bench/load.py [--users 200] [--duration 60] [--workers 4] [--threads 4]
        [--database-url postgres://postgres@127.0.0.1:5432/backlot_load]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

from _setup import server_env

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/backlot_load"
SMALL_JOB = {
    "model_key": "ltx-video",
    "num_frames": 9,
    "width": 256,
    "height": 256,
    "num_steps": 4,
    "guidance_scale": 3.0,
}
PROMPTS = ["a red fox in snow", "a paper boat on a river", "a neon city at night", "a lighthouse at dawn"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="simulated testers (default 200)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load after sign-in (default 60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a tester's actions, seconds")
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if args.users < 1 or args.duration <= 0 or args.workers < 1 or args.threads < 1 or args.think < 0:
        sys.exit("--users, --duration, --workers and --threads must be positive, --think not negative.")

    work = Path(tempfile.mkdtemp(prefix="backlot-load-"))
    env = server_env(args.database_url, work, example="backlot_load", BACKLOT_QUERY_COUNT_HEADER="1")
    prepare(env, args.users)
    people = testers(env, args.users)
    port = free_port()
    log = (work / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "config.wsgi", "--config", "platform/gunicorn.conf.py"],
        cwd=ROOT,
        env=env
        | {
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(args.workers),
            "GUNICORN_THREADS": str(args.threads),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(port, server)
        stats = asyncio.run(drive(port, people, duration=args.duration, think=args.think))
    finally:
        server.terminate()
        server.wait(timeout=30)
    report(stats, args)
    print(f"\ngunicorn log: {work / 'gunicorn.log'}")


# --- The server --------------------------------------------------------------------------------


def manage(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, **kwargs)


def prepare(env: dict, users: int) -> None:
    started = time.monotonic()
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    manage(env, "seed_load", "--testers", str(users), "--jobs", str(users * 20))
    print(f"database and static files ready in {time.monotonic() - started:.1f} s")


TOKENS = """
import json
from access.tokens import token_create
from generation.load_seed import DEFAULT_PASSWORD, seed_email
from django.contrib.auth import get_user_model
people = []
for number in range(1, {users} + 1):
    user = get_user_model().objects.get(email=seed_email(number))
    _, token = token_create(user=user, name="load", scopes=["read", "generate"])
    people.append({{"email": user.email, "password": DEFAULT_PASSWORD, "token": token}})
print("PEOPLE" + json.dumps(people))
"""


def testers(env: dict, users: int) -> list[dict]:
    """The seeded testers' addresses, their password and a fresh API token each."""
    out = manage(env, "shell", "-c", TOKENS.format(users=users), capture_output=True, text=True).stdout
    return json.loads(out.split("PEOPLE", 1)[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("gunicorn exited; see its log.")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("gunicorn did not start listening within a minute.")


# --- A small HTTP/1.1 client on asyncio streams (keep-alive, cookies) --------------------------------


class Browser:
    """One person's browser. Each connects from its own loopback address (127.0.x.y), as people
    come from their own networks: sign-in rate limits count per address."""

    def __init__(self, port: int, stats: Stats, source: str):
        self.port, self.stats, self.source = port, stats, source
        self.cookies: dict[str, str] = {}
        self.reader = self.writer = None

    async def close(self) -> None:
        if self.writer:
            self.writer.close()

    async def request(self, label: str, method: str, path: str, *, body: bytes = b"", headers=None, expect=(200,)):
        head = {
            "Host": f"127.0.0.1:{self.port}",
            "Connection": "keep-alive",
            "Content-Length": str(len(body)),
            **(headers or {}),
        }
        if self.cookies:
            head["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        raw = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
        started = time.perf_counter()
        try:
            status, answer, content = await self._exchange(raw.encode() + body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            self.stats.add(label, time.perf_counter() - started, ok=False, queries=None, note=type(error).__name__)
            self.reader = self.writer = None
            return None, {}, b""
        elapsed = time.perf_counter() - started
        queries = answer.get("x-db-queries")
        self.stats.add(label, elapsed, ok=status in expect, queries=int(queries) if queries else None, note=str(status))
        return status, answer, content

    async def _exchange(self, data: bytes):
        for attempt in range(2):  # a kept-alive connection the server closed meanwhile is opened again
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(
                    "127.0.0.1", self.port, local_addr=(self.source, 0)
                )
            try:
                self.writer.write(data)
                await self.writer.drain()
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.writer.close()
                self.reader = self.writer = None
                if attempt:
                    raise
        raise ConnectionError("unreachable")

    async def _response(self):
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookie = value.split(";", 1)[0]
                key, _, cookie_value = cookie.partition("=")
                self.cookies[key] = cookie_value
            headers[name] = value
        if headers.get("transfer-encoding") == "chunked":
            content = b""
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                content += await self.reader.readexactly(size + 2)
                content = content[:-2]
            await self.reader.readuntil(b"\r\n")
        else:
            content = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.reader = self.writer = None
        return status, headers, content


# --- What a tester does ----------------------------------------------------------------------------


CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


async def tester(
    port: int, person: dict, stats: Stats, *, number: int, until: float, think: float, rng: random.Random
) -> None:
    browser = Browser(port, stats, source=f"127.0.{number // 250 + 1}.{number % 250 + 2}")
    await asyncio.sleep(rng.uniform(0, 5))  # people arrive over a few seconds, not in one instant
    try:
        if not await sign_in(browser, person):
            return
        api = {"Authorization": f"Bearer {person['token']}"}
        while time.monotonic() < until:
            await browser.request("GET /clips/ (gallery)", "GET", "/clips/")
            await pause(rng, think)
            if rng.random() < 0.5:
                job_id = await submit_form(browser, rng)
            else:
                job_id = await submit_api(browser, api, rng)
            for _ in range(rng.randint(2, 5)):  # the clip page polls its progress every second
                if job_id:
                    await browser.request(
                        "GET /clips/<id>/status/ (poll)",
                        "GET",
                        f"/clips/{job_id}/status/",
                        headers={"HX-Request": "true"},
                    )
                await asyncio.sleep(1.0)
            await browser.request("GET /api/v1/jobs/", "GET", "/api/v1/jobs/", headers=api)
            await pause(rng, think)
    finally:
        await browser.close()


async def pause(rng: random.Random, think: float) -> None:
    await asyncio.sleep(rng.expovariate(1 / think) if think else 0)


async def sign_in(browser: Browser, person: dict) -> bool:
    _, _, page = await browser.request("GET /accounts/login/ (sign-in page)", "GET", "/accounts/login/")
    token = CSRF_FIELD.search(page or b"")
    if not token:
        return False
    form = urlencode({"login": person["email"], "password": person["password"], "csrfmiddlewaretoken": token[1]})
    status, headers, _ = await browser.request(
        "POST /accounts/login/ (sign in)",
        "POST",
        "/accounts/login/",
        body=form.encode(),
        expect=(302,),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{browser.port}"},
    )
    return status == 302 and "login" not in headers.get("location", "")


async def submit_form(browser: Browser, rng: random.Random) -> str | None:
    _, _, page = await browser.request("GET /clips/new/ (form)", "GET", "/clips/new/")
    token = CSRF_FIELD.search(page or b"")
    if not token:
        return None
    fields = {
        **SMALL_JOB,
        "prompt": rng.choice(PROMPTS),
        "negative_prompt": "",
        "seed": "",
        "variations": 1,
        "csrfmiddlewaretoken": token[1],
    }
    status, headers, _ = await browser.request(
        "POST /clips/new/ (submit form)",
        "POST",
        "/clips/new/",
        body=urlencode(fields).encode(),
        expect=(302,),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{browser.port}"},
    )
    found = re.search(r"/clips/([0-9a-f-]{36})/", headers.get("location", "")) if status == 302 else None
    return found[1] if found else None


async def submit_api(browser: Browser, api: dict, rng: random.Random) -> str | None:
    body = json.dumps({**SMALL_JOB, "prompt": rng.choice(PROMPTS)}).encode()
    status, _, content = await browser.request(
        "POST /api/v1/jobs/ (submit API)",
        "POST",
        "/api/v1/jobs/",
        body=body,
        expect=(201,),
        headers={**api, "Content-Type": "application/json"},
    )
    return json.loads(content)["id"] if status == 201 else None


# --- Figures -------------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.queries: dict[str, list[int]] = defaultdict(list)

    def add(self, label: str, seconds: float, *, ok: bool, queries: int | None, note: str) -> None:
        self.times[label].append(seconds)
        if not ok:
            self.errors[label][note] += 1
        if queries is not None:
            self.queries[label].append(queries)


async def drive(port: int, people: list[dict], *, duration: float, think: float) -> tuple:
    stats = Stats()
    rng = random.Random(7)  # noqa: S311 (think times, not secrets)
    started = time.monotonic()
    until = started + 5 + duration
    await asyncio.gather(
        *(
            tester(port, person, stats, number=number, until=until, think=think, rng=random.Random(rng.random()))  # noqa: S311
            for number, person in enumerate(people)
        )
    )
    return stats, time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(result: tuple[Stats, float], args) -> None:
    stats, wall = result
    total = sum(len(times) for times in stats.times.values())
    print(
        f"\n{args.users} testers, {wall:.0f} s, gunicorn {args.workers} workers x {args.threads} threads: "
        f"{total} requests, {total / wall:.1f} per second"
    )
    print(
        f"{'endpoint':38} {'requests':>8} {'req/s':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'queries':>8}"
    )
    for label in sorted(stats.times):
        times = [seconds * 1000 for seconds in stats.times[label]]
        queries = stats.queries.get(label)
        errors = sum(stats.errors[label].values())
        query_text = f"{statistics.mean(queries):.1f}/{max(queries)}" if queries else "-"
        print(
            f"{label:38} {len(times):8d} {len(times) / wall:6.1f} {percentile(times, 0.5):7.0f} "
            f"{percentile(times, 0.95):7.0f} {percentile(times, 0.99):7.0f} {errors:6d} {query_text:>8}"
        )
    for label, errors in sorted(stats.errors.items()):
        if errors:
            print(f"  errors on {label} (status or exception: count): {dict(errors)}")
    print("queries: mean/max database queries per request, from the X-DB-Queries header")


if __name__ == "__main__":
    main()
