"""A small run of bench/fuzz_live.py in the suite: Schemathesis (all checks, every phase, 3 cases per operation
and phase) against a live gunicorn with DEBUG=0 on PostgreSQL, which the in-process fuzz (tests/test_api_fuzz.py)
never reaches. No answer may be a server error. Needs PostgreSQL: the suite's DATABASE_URL names the server, and
the run gets a database of its own beside the suite's (livefuzz_<name>). About a minute."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
URL = os.environ.get("DATABASE_URL", "")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(urlsplit(URL).scheme not in ("postgres", "postgresql"), reason="needs PostgreSQL"),
]


def test_a_live_server_on_postgresql_answers_fuzzing_with_no_server_error():
    parts = urlsplit(URL)
    name = parts.path.lstrip("/").removeprefix("test_") or "backlot"
    own = parts._replace(path=f"/livefuzz_{name}").geturl()  # never test_*: the bench refuses shared names
    run = subprocess.run(
        [sys.executable, "bench/fuzz_live.py", "--database-url", own, "--examples", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "server errors (5xx): 0" in run.stdout, run.stdout + run.stderr[-3000:]
    assert run.returncode == 0
