"""Benchmark the smoke builds: `manage.py smoke_build` writing all six models (tiny random weights) into an
empty folder, as `make run` does on a fresh machine, timed as a whole process (start-up and imports included)
and per model.

    .venv/bin/python bench/smoke_build.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DONE = re.compile(r"^(\S+): smoke build written to", re.MULTILINE)


def one_run() -> tuple[float, dict[str, float]]:
    """(wall seconds of the whole command, seconds per model by the time each line appeared)."""
    with tempfile.TemporaryDirectory(prefix="backlot-bench-smoke-") as folder:
        env = {
            **os.environ,
            "BACKLOT_VAR_DIR": folder,
            "BACKLOT_MODELS_DIR": str(Path(folder) / "models"),
            "PYTHONUNBUFFERED": "1",
        }
        begin = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "manage.py", "smoke_build"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        per_model, last = {}, begin
        for line in process.stdout:
            match = DONE.match(line)
            if match:
                now = time.perf_counter()
                per_model[match.group(1)] = now - last
                last = now
        if process.wait() != 0:
            sys.exit("manage.py smoke_build failed")
        return time.perf_counter() - begin, per_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    totals, models = [], {}
    for _ in range(args.runs):
        total, per_model = one_run()
        totals.append(total)
        for key, seconds in per_model.items():
            models.setdefault(key, []).append(seconds)
    print(f"manage.py smoke_build, all {len(models)} models into an empty folder ({args.runs} runs, median;")
    print("the first model's time includes Python and Django starting):")
    for key, seconds in models.items():
        print(f"  {key:24} {statistics.median(seconds):6.2f} s")
    print(f"  {'whole command':24} {statistics.median(totals):6.2f} s (min {min(totals):.2f}, max {max(totals):.2f})")


if __name__ == "__main__":
    main()
