"""Platform overhead on the CPU, in one run, with the LTX smoke model at 768x512, 121 frames, 8 steps:

  (a) the raw pipeline call;
  (b) PyAV encoding of those same frames alone;
  (c) the same render submitted through the API (in-process WSGI) and run by a warm Celery worker until
      the clip is stored and the job is done.

Prints (c) / (a + b) (target: at most 1.15), the jobs per second the API accepts, the
queue-to-start latency of an idle worker, and the fraction of wall time the render loop is busy while
jobs are waiting, with post-processing inline and on its own thread (the default). Runs on a
throwaway SQLite database and filesystem broker unless DATABASE_URL / CELERY_BROKER_URL say otherwise.

    .venv/bin/python bench/platform_overhead.py [--runs 3] [--backlog 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, django_setup, tester  # noqa: E402

from config.celery import worker_argv  # noqa: E402

CASE = {"num_frames": 121, "width": 768, "height": 512, "num_steps": 8, "guidance_scale": 3.0, "seed": 11}
PROMPT = "a golden horse running through snow"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=4, help="jobs queued at once for the busy fraction")
    args = parser.parse_args()
    django_setup()
    _, token = tester()
    raw, encode = _raw_and_encode(args.runs)
    through, waits = _through_the_platform(args.runs, token)
    accepted = _api_jobs_per_second(token)
    busy_inline = _busy_fraction(args.backlog, token, inline=True)
    busy_thread = _busy_fraction(args.backlog, token, inline=False)
    print(f"(a) raw pipeline call          {raw:7.2f} s")
    print(f"(b) PyAV encode alone          {encode:7.2f} s")
    print(f"(c) API -> warm worker -> done {through:7.2f} s")
    print(f"(c) / (a + b)                  {through / (raw + encode):7.3f}   (target <= 1.15)")
    print(f"queue-to-start, idle worker    {statistics.median(waits) * 1000:7.0f} ms (median of {len(waits)})")
    print(f"API submissions accepted       {accepted:7.1f} jobs/s")
    print(
        f"render loop busy, {args.backlog} waiting: inline post-processing {busy_inline:.3f}, "
        f"on its own thread {busy_thread:.3f} (ratio {busy_thread / busy_inline:.2f})"
    )


def _raw_and_encode(runs: int) -> tuple[float, float]:
    import torch
    from diffusers import LTXPipeline
    from django.conf import settings

    from generation import watermark
    from generation.encoding import encode_mp4, frames_to_uint8
    from generation.registry import model_get

    spec = model_get("ltx-video")
    pipeline = LTXPipeline.from_pretrained(spec.source())
    pipeline.set_progress_bar_config(disable=True)
    raws, encodes, marks = [], [], []
    for _ in range(runs):
        started = time.perf_counter()
        frames = pipeline(
            prompt=PROMPT,
            num_frames=CASE["num_frames"],
            width=CASE["width"],
            height=CASE["height"],
            num_inference_steps=CASE["num_steps"],
            guidance_scale=CASE["guidance_scale"],
            generator=torch.Generator().manual_seed(CASE["seed"]),
            output_type="np",
            max_sequence_length=spec.max_sequence_length,
        ).frames[0]
        raws.append(time.perf_counter() - started)
        started = time.perf_counter()
        encode_mp4(
            frames_to_uint8(frames), fps=spec.fps, crf=settings.BACKLOT_VIDEO_CRF, preset=settings.BACKLOT_VIDEO_PRESET
        )
        encodes.append(time.perf_counter() - started)
        pixels = frames_to_uint8(frames)
        started = time.perf_counter()
        watermark.mark_invisible(watermark.mark_visible(pixels, "Bench · ABC1234", opacity=0.35), 0x5EED, out=pixels)
        marks.append((time.perf_counter() - started) / len(pixels))
    print(f"    both marks: {statistics.median(marks) * 1000:.2f} ms per {CASE['width']}x{CASE['height']} frame")
    return statistics.median(raws), statistics.median(encodes)


def _api(token):
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _wait(job_id) -> object:
    from generation.models import RenderJob

    while True:
        job = RenderJob.objects.get(pk=job_id)
        if job.is_finished:
            return job
        time.sleep(0.1)  # a light poll: this process must not take CPU from the worker it measures


@contextlib.contextmanager
def _worker(**env):
    from django.conf import settings

    log_path = Path(settings.VAR_DIR) / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            worker_argv(loglevel="WARNING"),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def _busy_fraction(backlog: int, token, *, inline: bool) -> float:
    """Submit ``backlog`` jobs at once to a warm worker; of the time from the first job's start to the
    last one's, the share the pipeline spent rendering (the rest is encoding, storing, claiming)."""
    with _worker(BACKLOT_POSTPROCESS_INLINE="1" if inline else "0", BACKLOT_PRELOAD_MODELS="ltx-video"):
        api = _api(token)
        ids = [
            api.post(
                "/api/v1/jobs/", {"prompt": PROMPT, "model_key": "ltx-video", **CASE, "seed": seed}, format="json"
            ).json()["id"]
            for seed in range(backlog)
        ]
        jobs = sorted((_wait(job_id) for job_id in ids), key=lambda job: job.started_at)
    assert all(job.state == "succeeded" for job in jobs), [job.error for job in jobs]
    window = (jobs[-1].started_at - jobs[0].started_at).total_seconds()
    return sum(job.gpu_seconds for job in jobs[:-1]) / window


def _through_the_platform(runs: int, token) -> tuple[float, list[float]]:
    with _worker(BACKLOT_PRELOAD_MODELS="ltx-video"):
        api = _api(token)
        warm = api.post("/api/v1/jobs/", {"prompt": PROMPT, "model_key": "ltx-video", **CASE}, format="json")
        assert warm.status_code == 201, warm.content
        _wait(warm.json()["id"])  # loads the model: the worker is warm from here on
        totals, waits, renders, encodes = [], [], [], []
        for _ in range(runs):
            time.sleep(0.5)  # an idle worker
            started = time.perf_counter()
            response = api.post("/api/v1/jobs/", {"prompt": PROMPT, "model_key": "ltx-video", **CASE}, format="json")
            job = _wait(response.json()["id"])
            totals.append(time.perf_counter() - started)
            assert job.state == "succeeded", job.error
            waits.append((job.started_at - job.queued_at).total_seconds())
            renders.append(job.gpu_seconds)
            encodes.append(job.encode_seconds)
        render, encode = statistics.median(renders), statistics.median(encodes)
        print(f"    in the worker: render {render:.2f} s, encode {encode:.2f} s")
        return statistics.median(totals), waits


def _api_jobs_per_second(token, count: int = 200) -> float:
    from generation.models import RenderJob

    api = _api(token)
    small = {
        "prompt": PROMPT,
        "model_key": "ltx-video",
        "num_frames": 9,
        "width": 128,
        "height": 128,
        "num_steps": 2,
        "guidance_scale": 3.0,
    }
    started = time.perf_counter()
    for _ in range(count):
        assert api.post("/api/v1/jobs/", small, format="json").status_code == 201
    elapsed = time.perf_counter() - started
    RenderJob.objects.filter(state="queued").update(state="cancelled")  # nobody renders these
    return count / elapsed


if __name__ == "__main__":
    main()
