"""Where a progress request's CPU goes, without gunicorn: the production WSGI application (config.wsgi, with
its lean paths) called in this process for /healthz, the page's poll and the API's progress, with the CPU time
per request and, with --profile, cProfile's busiest functions. Less noisy than bench/progress.py on a shared
machine, and it shows what to work on; bench/progress.py stays the measure that counts (gunicorn adds its own
cost per request).

    .venv/bin/python bench/progress_profile.py [--requests 1000] [--profile] [--paths healthz,poll,api]
        [--database-url postgres://postgres@127.0.0.1:5432/backlot_progress]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _setup import server_env  # noqa: E402
from progress import DEFAULT_URL, SETUP  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per path (at most 3,000; see progress.py)")
    parser.add_argument("--paths", default="healthz,poll,api", help="which of healthz, poll, api")
    parser.add_argument("--profile", action="store_true", help="print cProfile's busiest functions for each path")
    parser.add_argument("--database-url", default=os.environ.get("PROGRESS_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    chosen = args.paths.split(",")
    if args.requests < 10 or not set(chosen) <= {"healthz", "poll", "api"}:
        sys.exit("--requests must be at least 10, and --paths a list of healthz, poll, api.")

    work = Path(tempfile.mkdtemp(prefix="backlot-progress-profile-"))
    rates = {"API_RATE_PER_TOKEN": "120/min"}  # as progress.py: each of 60 tokens within the default rate
    os.environ.update(server_env(args.database_url, work, example="backlot_progress", **rates))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    from django.core.management import call_command

    from config.wsgi import application

    call_command("migrate", verbosity=0)
    printed, scope = io.StringIO(), {}
    with contextlib.redirect_stdout(printed):
        exec(SETUP, scope)  # noqa: S102 (the bench's own set-up code, shared with progress.py)
    world = json.loads(printed.getvalue().split("SETUP", 1)[1])
    cookie = {"Cookie": f"sessionid={world['session']}", "HX-Request": "true"}
    paths = {
        "healthz": ("/healthz", [{}]),
        "poll": (world["progress"], [cookie]),
        "api": (f"/api/v1/jobs/{world['job']}/progress/", [{"Authorization": f"Bearer {t}"} for t in world["tokens"]]),
    }
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for name in chosen:
        path, headers = paths[name]
        if _run(application, path, headers, 20) != "200 OK":
            sys.exit(f"{path} did not answer 200")
        began = time.process_time()
        _run(application, path, headers, args.requests)
        cpu = (time.process_time() - began) / args.requests
        print(f"{name:8} {cpu * 1000:6.3f} ms CPU per request, in this process")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(_run, application, path, headers, args.requests)
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())


def _run(application, path: str, headers: list[dict], count: int) -> str:
    url, _, query = path.partition("?")
    status = ""
    for n in range(count):
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": url,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
        }
        environ |= {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers[n % len(headers)].items()}

        def start_response(line, response_headers, exc_info=None):
            nonlocal status
            status = line

        response = application(environ, start_response)
        b"".join(response)
        response.close()
    return status


if __name__ == "__main__":
    main()
