"""Submit to playable clip for each creative mode (issue 14) on the smoke models, through a real Celery worker
process, on a throwaway SQLite database and filesystem broker (or whatever DATABASE_URL / CELERY_BROKER_URL name).

Each job is queued as the API and the generate page queue it (generation.submission.jobs_submit, uploads through
generation.inputs.image_store), and is playable once its row says succeeded and its stored MP4 decodes to the
frames asked for. The first render of each mode is shown apart from the timed runs: it loads the model family's
pipelines on the worker, or builds the mode's pipeline from the resident one. The machine's load average is printed
beside each row: the cores may be shared.

    .venv/bin/python bench/modes.py [--runs 3] [--only ltx|cogvideox|wan]
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

LTX = {"model_key": "ltx-video", "num_frames": 17, "width": 256, "height": 256, "num_steps": 4}
COG = {"model_key": "cogvideox-2b", "num_frames": 25, "width": 256, "height": 256, "num_steps": 4}
COG5 = {"model_key": "cogvideox-5b", "num_frames": 9, "width": 720, "height": 480, "num_steps": 2}
WAN = {"model_key": "wan2.1-14b", "num_frames": 9, "width": 256, "height": 256, "num_steps": 4, "guidance_scale": 1}

# (family, label, settings, mode, inputs): "source" is the family's text-to-video clip (half size for an upscale).
CASES = [
    ("ltx", "text to video", LTX, "text_to_video", ()),
    ("ltx", "image to video", LTX, "image_to_video", ("image",)),
    ("ltx", "first and last frame", LTX, "keyframes", ("image", "last_image")),
    ("ltx", "extend (+25 frames)", {**LTX, "num_frames": 25}, "extend", ("source",)),
    ("ltx", "upscale 2x (to 512x512)", {**LTX, "width": 512, "height": 512}, "upscale", ("source",)),
    ("cogvideox", "text to video (CogVideoX 2B)", COG, "text_to_video", ()),
    ("cogvideox", "restyle (CogVideoX 2B, 0.6)", COG, "restyle", ("source", "strength")),
    ("cogvideox", "image to video (CogVideoX 5B, 720x480)", COG5, "image_to_video", ("image",)),
    ("wan", "text to video (Wan 2.1 14B)", WAN, "text_to_video", ()),
    ("wan", "image to video (Wan 2.1 14B)", WAN, "image_to_video", ("image",)),
    ("wan", "first and last frame (Wan 2.1 14B)", WAN, "keyframes", ("image", "last_image")),
]
SMOKE = {"ltx": ["ltx-video"], "cogvideox": ["cogvideox-2b", "cogvideox-5b"], "wan": ["wan2.1-14b"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=sorted(SMOKE), action="append")
    args = parser.parse_args()
    families = args.only or list(SMOKE)
    django_setup()
    from django.core.management import call_command

    for family in families:
        for key in SMOKE[family]:
            call_command("smoke_build", key, "--if-missing", verbosity=0)
    run([case for case in CASES if case[0] in families], args.runs)


def _images(owner) -> dict:
    import io

    from PIL import Image

    from generation.inputs import image_store

    images = {}
    for name, colour in (("image", (220, 60, 30)), ("last_image", (30, 60, 220))):
        buffer = io.BytesIO()
        Image.new("RGB", (320, 200), colour).save(buffer, format="PNG")
        images[name] = image_store(owner=owner, data=buffer.getvalue())
    return images


def submit_to_playable(owner, settings: dict, mode: str, inputs: dict, seed: int) -> tuple[float, object]:
    """Seconds from queueing the job to its stored clip decoding, and the job."""
    from generation.encoding import decode_mp4
    from generation.models import RenderJob
    from generation.submission import jobs_submit

    fields = {"guidance_scale": 3.0, **settings, "mode": mode, **inputs}
    begin = time.perf_counter()
    (job,) = jobs_submit(owner=owner, prompt="a red kite over the sea at dusk", seed=seed, **fields)
    while not job.is_finished:
        time.sleep(0.02)
        job.refresh_from_db()
    if job.state != RenderJob.State.SUCCEEDED:
        raise SystemExit(f"{mode} on {settings['model_key']}: {job.state}: {job.error}")
    with job.output.open("rb") as handle:
        frames = decode_mp4(handle.read())
    elapsed = time.perf_counter() - begin
    assert frames.shape[1:3] == (job.height, job.width), frames.shape
    return elapsed, job


def run(cases, runs: int) -> None:
    from django.conf import settings

    owner, _ = tester()
    images = _images(owner)
    log_path = Path(settings.VAR_DIR) / "worker.log"
    log = open(log_path, "w")  # noqa: SIM115 (lives as long as the worker)
    env = {**os.environ, "BACKLOT_PRELOAD_MODELS": ""}  # every family's first load is shown as such
    worker = subprocess.Popen(worker_argv(loglevel="INFO"), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while "ready." not in log_path.read_text():
            if worker.poll() is not None:
                raise SystemExit(log_path.read_text()[-3000:])
            time.sleep(0.1)
        print(f"{os.cpu_count()} cores; load average at the start {os.getloadavg()[0]:.1f}; {runs} runs a mode\n")
        print("| mode | size | first (loads) s | median s | runs s | load avg |")
        print("| --- | --- | --- | --- | --- | --- |")
        seed = 1
        for _family, label, case_settings, mode, takes in cases:
            inputs = {name: images[name] for name in takes if name in images}
            if "strength" in takes:
                inputs["strength"] = 0.6
            if "source" in takes:
                source_settings = {**case_settings, "num_frames": 17} if mode == "extend" else case_settings
                if mode == "upscale":
                    source_settings = {**case_settings, "width": 256, "height": 256}
                _, inputs["source"] = submit_to_playable(owner, source_settings, "text_to_video", {}, seed=99)
            first, _ = submit_to_playable(owner, case_settings, mode, inputs, seed)
            times = []
            for _ in range(runs):
                seed += 1
                seconds, job = submit_to_playable(owner, case_settings, mode, inputs, seed)
                times.append(seconds)
            size = f"{job.width}x{job.height}, {job.num_frames} f, {job.num_steps} steps"
            runs_shown = " / ".join(f"{t:.2f}" for t in times)
            print(
                f"| {label} | {size} | {first:.2f} | {statistics.median(times):.2f} | {runs_shown} "
                f"| {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()


if __name__ == "__main__":
    main()
