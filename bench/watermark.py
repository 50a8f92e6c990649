"""Benchmark the clip marks on this machine: the invisible and visible marks' cost per frame, the PSNR
between marked and unmarked frames, and the time to read the mark back from a clip (decode + read),
at 768x512 and 1280x720 on moving test scenes. Pure numpy on the CPU; no database needed.

    .venv/bin/python bench/watermark.py [--frames 121] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402
import numpy as np  # noqa: E402

django.setup()  # generation.trace imports the models; no database is touched

from generation import watermark  # noqa: E402
from generation.encoding import encode_mp4  # noqa: E402
from generation.trace import mean_luma  # noqa: E402
from tests.generation.clips import crop, decode, half_size, moving_scene, reencode  # noqa: E402

SIZES = [(768, 512), (1280, 720)]
CODE = 0x9E3779B9


def best_of(runs: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--codes", type=int, default=40, help="random codes for the robustness count")
    args = parser.parse_args()
    print(f"{args.frames} frames per clip, best of {args.runs} runs")
    header = "size       invisible  visible   PSNR inv.  PSNR both  decode   read    read half-size copy"
    print(header)
    for width, height in SIZES:
        frames = moving_scene(args.frames, height, width)
        text = "Alpha · 3ZK9QWA"
        invisible_s, marked = best_of(args.runs, lambda: watermark.mark_invisible(frames, CODE))  # noqa: B023
        visible_s, stamped = best_of(args.runs, lambda: watermark.mark_visible(frames, text, opacity=0.35))  # noqa: B023
        both = watermark.mark_invisible(stamped, CODE)
        clip = encode_mp4(both, fps=24)
        decode_s, (image, _) = best_of(args.runs, lambda: mean_luma(clip))  # noqa: B023
        read_s, reading = best_of(args.runs, lambda: watermark.read_mean_luma(image))  # noqa: B023
        assert reading.code == CODE, reading
        small_image, _ = mean_luma(half_size(clip))
        half_s, small = best_of(args.runs, lambda: watermark.read_mean_luma(small_image))  # noqa: B023
        assert small.code == CODE, small
        per_frame = 1000 / len(frames)
        print(
            f"{width}x{height:<5}  {invisible_s * per_frame:5.2f} ms  {visible_s * per_frame:5.2f} ms  "
            f"{watermark.psnr(frames, marked):5.1f} dB   {watermark.psnr(frames, both):5.1f} dB   "
            f"{decode_s:5.2f} s  {read_s * 1000:4.0f} ms  {half_s * 1000:4.0f} ms"
        )
    print("invisible/visible: per frame, all frames marked at once; decode: PyAV, luma only, of the whole clip;")
    print("read: the mark from the mean luma (scales tried in order until one reads; an unmarked clip tries all).")
    blank = np.full((720, 1280), 128, np.float32) + np.random.default_rng(0).normal(0, 20, (720, 1280)).astype(
        np.float32
    )
    none_s, _ = best_of(args.runs, lambda: watermark.read_mean_luma(blank))
    print(f"read of an unmarked 1280x720 clip (every scale tried): {none_s * 1000:.0f} ms")
    robustness(args.codes)


def robustness(count: int) -> None:
    """How many of ``count`` random codes read back from a small, short clip (25 frames of 256x256,
    stamped and marked as a job's clip is) after each thing a leaker does; the weakest margins too."""
    leaks = {
        "re-encoded at CRF 35": lambda data: reencode(data, crf=35),
        "scaled to half size": half_size,
        "10 % cropped": crop,
    }
    stamped = watermark.mark_visible(moving_scene(), "Alpha · 3ZK9QWA", opacity=0.35)
    rng = np.random.default_rng(11)
    read, sync, confirm = dict.fromkeys(leaks, 0), {name: [] for name in leaks}, {name: [] for name in leaks}
    for _ in range(count):
        code = int(rng.integers(0, 2**32))
        clip = encode_mp4(watermark.mark_invisible(stamped, code), fps=24)
        for name, leak in leaks.items():
            reading = watermark.read_mean_luma(watermark.mean_luma(decode(leak(clip), "gray")))
            read[name] += reading.code == code
            sync[name].append(reading.sync_score)
            confirm[name].append(reading.confirm_score)
    print(
        f"\n{count} random codes, 25 frames of 256x256 (thresholds: sync {watermark.SYNC_THRESHOLD}, "
        f"confirm {watermark.CONFIRM_THRESHOLD})"
    )
    for name in leaks:
        print(
            f"{name:22} read {read[name]:3}/{count}   lowest sync {min(sync[name]):5.2f}   "
            f"lowest confirm {min(confirm[name]):5.2f}"
        )


if __name__ == "__main__":
    main()
