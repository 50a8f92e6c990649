"""Benchmark Content Credentials: what signing a clip (after encoding) and reading it back cost, and how many
bytes the manifest adds, on clips of the sizes Backlot renders. Signs with a development CA made for the run.

    .venv/bin/python bench/credentials.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_setup, tester  # noqa: E402

CASES = [  # (label, frames, width, height)
    ("smoke 256x256x25", 25, 256, 256),
    ("768x512x49", 49, 768, 512),
    ("LTX native 768x512x121", 121, 768, 512),
    ("720p 1280x720x121", 121, 1280, 720),
]


def frames(count: int, height: int, width: int) -> np.ndarray:
    """Drifting gradients with a moving disc and some grain: what a render compresses like."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        base = 0.5 + 0.4 * np.sin((x + 4 * t) / width * 5) * np.cos((y - 3 * t) / height * 3)
        image = np.stack([base, 0.8 * base + 0.1, 1 - base], axis=-1) + rng.normal(0, 0.02, (height, width, 3))
        image[(x - (width * 0.3 + 6 * t) % width) ** 2 + (y - height / 2) ** 2 < (height / 6) ** 2] = (0.9, 0.2, 0.1)
        out[t] = np.clip(image * 255, 0, 255).astype(np.uint8)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="backlot-c2pa-bench-"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from generation.credentials import dev_ca_create

    paths = dev_ca_create(folder)
    os.environ["BACKLOT_C2PA_CERT_CHAIN"] = str(paths["chain"])
    os.environ["BACKLOT_C2PA_KEY"] = str(paths["key"])
    os.environ["BACKLOT_C2PA_TRUST_ANCHORS"] = str(paths["anchor"])
    django_setup()

    from access.policy import current_grant
    from generation.credentials import credentials_read, credentials_sign, fast_start_check, signing_key
    from generation.encoding import encode_mp4
    from generation.models import RenderJob

    user, _ = tester()
    shape = {"num_frames": 121, "width": 768, "height": 512, "num_steps": 8, "guidance_scale": 3.0, "seed": 1}
    job = RenderJob.objects.create(
        owner=user, grant=current_grant(user), prompt="bench", model_key="ltx-video", **shape
    )
    print(f"c2pa signing and reading, ES256 development certificate, median of {args.runs} runs")
    print(f"{'clip':<24} {'encode s':>9} {'sign ms':>8} {'read ms':>8} {'clip KB':>9} {'added B':>8} {'added %':>8}")
    for label, count, width, height in CASES:
        clip_frames = frames(count, height, width)
        started = time.perf_counter()
        video = encode_mp4(clip_frames, fps=24, crf=18, preset="veryfast")
        encode = time.perf_counter() - started
        signs, reads = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            signed = credentials_sign(video, job, key=signing_key())  # reading the key files included
            signs.append(time.perf_counter() - started)
            started = time.perf_counter()
            status = credentials_read(signed).status
            reads.append(time.perf_counter() - started)
            assert status == "valid", status
        fast_start_check(signed)
        added = len(signed) - len(video)
        print(
            f"{label:<24} {encode:>9.2f} {statistics.median(signs) * 1000:>8.1f} "
            f"{statistics.median(reads) * 1000:>8.1f} {len(video) / 1024:>9.0f} {added:>8} "
            f"{100 * added / len(video):>7.2f}%"
        )


if __name__ == "__main__":
    main()
