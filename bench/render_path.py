"""Benchmark the thin path on this machine: smoke-model render and encode times in-process, then
submit-to-playable time through a real Celery worker, on a throwaway SQLite database and
filesystem broker (or whatever DATABASE_URL / CELERY_BROKER_URL name).

    .venv/bin/python bench/render_path.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, django_setup, tester  # noqa: E402

from config.celery import worker_argv  # noqa: E402

CASES = [  # (label, frames, width, height, steps)
    ("tiny 256x256x25, 4 steps", 25, 256, 256, 4),
    ("form default 704x480x121, 30 steps", 121, 704, 480, 30),
    ("LTX native 768x512x121, 8 steps", 121, 768, 512, 8),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    django_setup()
    in_process(args.runs)
    submit_to_playable(args.runs)


def in_process(runs: int) -> None:
    from django.conf import settings

    from generation import runner
    from generation.encoding import encode_mp4, frames_to_uint8
    from generation.registry import model_get

    spec = model_get("ltx-video")
    started = time.perf_counter()
    runner.pipeline_get(spec)
    print(f"smoke model load: {time.perf_counter() - started:.2f} s")
    print(f"{'case':40} {'render s':>9} {'encode s':>9} {'MB':>6}")
    for label, frames, width, height, steps in CASES:
        params = runner.RenderParams("a golden horse in the snow", "", frames, width, height, steps, 3.0, 1)
        renders, encodes = [], []
        for _ in range(runs):
            result = runner.render(spec, params, on_step=lambda *_: None)
            begin = time.perf_counter()
            video = encode_mp4(
                frames_to_uint8(result.frames),
                fps=spec.fps,
                crf=settings.BACKLOT_VIDEO_CRF,
                preset=settings.BACKLOT_VIDEO_PRESET,
            )
            encodes.append(time.perf_counter() - begin)
            renders.append(result.device_seconds)
        print(f"{label:40} {statistics.median(renders):9.2f} {statistics.median(encodes):9.2f} {len(video) / 1e6:6.1f}")


def submit_to_playable(runs: int) -> None:
    from django.conf import settings

    from generation.models import RenderJob
    from generation.submission import job_create

    owner, _ = tester()
    log = open(Path(settings.VAR_DIR) / "worker.log", "w")  # noqa: SIM115 (lives as long as the worker)
    worker = subprocess.Popen(
        worker_argv(loglevel="INFO"),
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        while "ready." not in (Path(settings.VAR_DIR) / "worker.log").read_text():
            time.sleep(0.1)
        print(f"\nsubmit to playable clip through a real worker ({settings.CELERY_BROKER_URL.split(':')[0]} broker):")
        for label, frames, width, height, steps in CASES[:2]:
            totals, queue_waits = [], []
            for _ in range(runs):
                begin = time.perf_counter()
                job = job_create(
                    owner=owner,
                    prompt="a golden horse in the snow",
                    model_key="ltx-video",
                    num_frames=frames,
                    width=width,
                    height=height,
                    num_steps=steps,
                    guidance_scale=3.0,
                )
                while not job.is_finished:
                    time.sleep(0.02)
                    job.refresh_from_db()
                assert job.state == RenderJob.State.SUCCEEDED, job.error
                totals.append(time.perf_counter() - begin)
                queue_waits.append((job.started_at - job.queued_at).total_seconds())
            print(
                f"  {label:40} total {statistics.median(totals):6.2f} s"
                f" (queue wait {statistics.median(queue_waits):.2f} s, first run {totals[0]:.2f} s)"
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
