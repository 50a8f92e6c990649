"""Benchmark tracing at the scale of a leak, and reading an entered film, on this machine: `manage.py trace`
over a folder of marked 1280x720 clips (seconds per file, end to end: reading the file, decoding, the mark,
the Content Credentials, the audit record), and the films worker's job for a 1280x720 film (decode and read every
window, then the blind remux), in seconds per minute of film.

    .venv/bin/python bench/trace_batch.py [--clips 10] [--clip-seconds 5] [--film-seconds 30]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_setup, tester  # noqa: E402

WIDTH, HEIGHT = 1280, 720


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--clip-seconds", type=float, default=5)
    parser.add_argument("--film-seconds", type=float, default=30)
    args = parser.parse_args()
    django_setup()

    import numpy as np
    from django.core.management import CommandError, call_command

    from access.policy import current_grant
    from competition import films
    from generation import watermark
    from generation.encoding import encode_mp4
    from generation.models import RenderJob
    from tests.generation.clips import half_size, moving_scene

    user, _ = tester()
    grant = current_grant(user)
    frames_per_clip = round(args.clip_seconds * 24)
    scene = moving_scene(frames_per_clip, HEIGHT, WIDTH)
    with tempfile.TemporaryDirectory(prefix="backlot-trace-bench-") as folder:
        jobs = []
        for number in range(args.clips):
            job = RenderJob.objects.create(
                owner=user,
                grant=grant,
                prompt="bench",
                model_key="ltx-video",
                num_frames=frames_per_clip,
                width=WIDTH,
                height=HEIGHT,
                num_steps=2,
                guidance_scale=3.0,
                seed=number,
                state=RenderJob.State.SUCCEEDED,
            )
            jobs.append(job)
            leaked = half_size(encode_mp4(watermark.mark_invisible(scene, job.mark_code), fps=24), crf=28)
            (Path(folder) / f"leak-{number:02d}.mp4").write_bytes(leaked)
        out = io.StringIO()
        started = time.perf_counter()
        try:
            with redirect_stdout(out):
                call_command("trace", folder, stdout=out)
            status = 0
        except CommandError as error:
            status = error.returncode
        elapsed = time.perf_counter() - started
    found = sum(line.split("\t")[1] == "found" for line in out.getvalue().splitlines()[1:] if "\t" in line)
    print(f"manage.py trace: {args.clips} clips of {args.clip_seconds:g} s, 1280x720 halved to 640x360, CRF 28")
    print(f"  found {found} of {args.clips}, exit status {status}")
    print(f"  {elapsed:.2f} s in all, {elapsed / args.clips:.2f} s per file")

    film_frames = round(args.film_seconds * 24)
    codes = [job.mark_code for job in jobs[:3]]
    parts = np.array_split(np.arange(film_frames), len(codes))
    film = np.concatenate(
        [
            watermark.mark_invisible(moving_scene(len(part), HEIGHT, WIDTH, seed=i), code)
            for i, (part, code) in enumerate(zip(parts, codes, strict=True))
        ]
    )
    data = encode_mp4(film, fps=24, crf=20)
    started = time.perf_counter()
    info = films.film_read(data, max_seconds=600, max_bytes=2**31)
    read = time.perf_counter() - started
    started = time.perf_counter()
    films.blind_copy(data)
    remux = time.perf_counter() - started
    per_minute = (read + remux) * 60 / args.film_seconds
    print(f"films worker: a {args.film_seconds:g} s 1280x720 film cut from {len(codes)} clips")
    print(f"  marks found {len(set(info.marks) & set(codes))} of {len(codes)}, {info.windows_read} windows read")
    print(f"  read {read:.2f} s, blind remux {remux:.2f} s: {per_minute:.1f} s per minute of film")


if __name__ == "__main__":
    main()
