"""Schemathesis against a live gunicorn on PostgreSQL with DEBUG=0, as an operator deploys it: every operation
of the served schema, every check, every phase (documented examples, boundary coverage, random fuzzing,
stateful links), with a token holding every scope for a tester who owns a clip, a waiting job, a preset, a
rating and a report. Prints the figures: cases, statuses (from gunicorn's access log), failures by check,
server errors, time. Exits 1 on any server error.

    python bench/fuzz_live.py --database-url postgres://postgres@127.0.0.1:5432/backlot_fuzz [--examples 50]

The in-process fuzz (tests/test_api_fuzz.py) runs on the test database in one transaction; this one runs over
real sockets against a real PostgreSQL, which is where a parsed +16:00 offset first reached a query."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _setup import server_env
from load import free_port, manage, wait_for

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/backlot_fuzz"
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')

SEED = """
import json, secrets
from access.models import Role
from access.people import user_create
from access.programmes import cohort_create, membership_add, programme_create
from access.tokens import token_create
from feedback import reports
from generation.presets import preset_create
from generation.submission import job_create

programme = programme_create(name=f"Fuzz {secrets.token_hex(3)}")
cohort = cohort_create(programme=programme, name="Fuzz", max_frames=257, max_steps=100,
                       gpu_seconds_per_day=10**8, gpu_seconds_total=10**9, max_queued_jobs=10**6)
user = user_create(email=f"fuzz-{secrets.token_hex(4)}@example.org", password=secrets.token_urlsafe(16),
                   display_name="Fuzz Tester")
membership_add(user=user, programme=programme, role=Role.ARTIST, cohort=cohort)
job = job_create(owner=user, prompt="a lighthouse at dawn", model_key="ltx-video", num_frames=9, width=256,
                 height=256, num_steps=4, guidance_scale=3.0)
preset_create(name="Night city", owner=user, actor=user,
              settings={"model_key": "ltx-video", "num_frames": 25, "width": 256, "height": 192, "num_steps": 4,
                        "guidance_scale": 3.0, "negative_prompt": "", "seed": None})
reports.report_file(reporter=user, kind="bug", title="Last frames turn grey", severity="high", job=job,
                    steps="Render 9 frames", expected="colour", actual="grey")
_, token = token_create(user=user, name="fuzz", scopes=["read", "generate", "feedback"])
print("TOKEN" + json.dumps(token))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("FUZZ_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--examples", type=int, default=50, help="generated cases per operation and phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--seed", type=int, default=20250701)
    parser.add_argument("--max-time", type=int, default=0, help="stop fuzzing after this many seconds (0: no cap)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="backlot-fuzz-"))
    env = server_env(
        args.database_url,
        work,
        example="backlot_fuzz",
        BACKLOT_RATE_SUBMISSIONS="1000000/h",
        BACKLOT_RATE_TOKENS="1000000/h",
    )
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")  # DEBUG=0 serves the manifest's names
    manage(env, "smoke_build", "ltx-video", "--if-missing", "--verbosity", "0")
    out = manage(env, "shell", "-c", SEED, capture_output=True, text=True).stdout
    token = json.loads(out.split("TOKEN", 1)[1])
    schema = work / "schema.json"
    manage(env, "spectacular", "--format", "openapi-json", "--file", str(schema), "--validate", "--fail-on-warn")

    port = free_port()
    access_log = work / "access.log"
    server_log = (work / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--config",
            "platform/gunicorn.conf.py",
            "--access-logfile",
            str(access_log),
        ],
        cwd=ROOT,
        env=env
        | {"GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(args.workers), "GUNICORN_THREADS": "4"},
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    started = time.monotonic()
    try:
        wait_for(port, server)
        command = [
            str(Path(PYTHON).with_name("st")),
            "run",
            str(schema),
            "--url",
            f"http://127.0.0.1:{port}",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(args.examples),
            "--seed",
            str(args.seed),
            "--generation-database",
            "none",
            "--workers",
            "2",
            "--no-color",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(work / "events.ndjson"),
            "--request-timeout",
            "30",
        ]
        if args.max_time:
            command += ["--max-time", str(args.max_time)]
        run = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    finally:
        server.terminate()
        server.wait(timeout=30)
    elapsed = time.monotonic() - started
    (work / "schemathesis.txt").write_text(run.stdout + run.stderr)
    server_errors = report(work, run, elapsed)
    sys.exit(1 if server_errors else 0)


def report(work: Path, run: subprocess.CompletedProcess, elapsed: float) -> int:
    statuses: Counter = Counter()
    errors: list[str] = []
    for line in (work / "access.log").read_text().splitlines():
        if match := ACCESS_LINE.search(line):
            statuses[int(match["status"])] += 1
            if match["status"].startswith("5"):
                errors.append(f"{match['status']} {match['method']} {match['path'][:160]}")
    # Each unique failure is listed under its operation as "- <code> <title>", e.g. "- ST202 Schema-valid ...".
    failures = Counter(re.findall(r"^- (.+)$", run.stdout, flags=re.MULTILINE))
    summary = [line.strip() for line in run.stdout.splitlines() if re.search(r"\d+ generated|unique failures", line)]
    print(f"requests (gunicorn access log): {sum(statuses.values())}")
    print("statuses: " + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))
    listed = "".join(f"\n  {count} x {check}" for check, count in failures.most_common())
    print("unique failures by check (Schemathesis):" + (listed or " none"))
    print(f"server errors (5xx): {len(errors)}")
    for error in errors[:20]:
        print("  " + error)
    print(f"time: {elapsed:.0f} s; Schemathesis exit code {run.returncode}")
    print("Schemathesis: " + (summary[-1] if summary else "(no summary line)"))
    print(f"full output: {work / 'schemathesis.txt'}; gunicorn log: {work / 'gunicorn.log'}")
    return len(errors)


if __name__ == "__main__":
    main()
