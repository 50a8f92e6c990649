"""The trace reader at a git revision against the working tree's, in one process: the time to trace a
minute of 720p as `manage.py trace` does it (decode the first 150 frames, average their luma, read every
mark version), and proof that both give the same mean picture, code, accept/reject and scores on attacked
marked and unmarked clips.

    .venv/bin/python bench/watermark_reader.py --against <rev> [--clips 210] [--timing-only]

The old reader is the revision's generation/marks/*.py and generation/watermark.py, loaded as a separate
package. The old decode is what generation/trace.mean_luma did before generation/luma.py: swscale's gray
conversion of every frame (``frame.to_ndarray(format="gray")``), summed in float64.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import av  # noqa: E402
import numpy as np  # noqa: E402

from bench.watermark import CHAINS, FPS, TRACE_CLIPS, delivered, trace_clip  # noqa: E402
from generation import trace, watermark  # noqa: E402
from tests.generation import attacks as a  # noqa: E402
from tests.generation.footage import CONTENTS  # noqa: E402

READER_FILES = {
    "coding": "generation/marks/coding.py",
    "reading": "generation/marks/reading.py",
    "v1": "generation/marks/v1.py",
    "v2": "generation/marks/v2.py",
    "watermark": "generation/watermark.py",
}


def old_reader(revision: str):
    """The revision's generation.watermark, its marks package renamed ``_old_marks``."""
    folder = Path(tempfile.mkdtemp(prefix="backlot-old-reader-")) / "_old_marks"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for name, path in READER_FILES.items():
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{revision}:{path}"], capture_output=True, text=True, check=True
        ).stdout
        for package in ("generation.marks.reading", "generation.marks.coding"):
            text = text.replace(f"from {package} import", f"from _old_marks.{package.rsplit('.', 1)[1]} import")
        (folder / f"{name}.py").write_text(text.replace("from generation.marks import", "from _old_marks import"))
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module("_old_marks.watermark")


def old_mean_luma(data: bytes) -> tuple[np.ndarray, int]:
    total, count, shape = None, 0, None
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            plane = frame.to_ndarray(format="gray")
            if shape is None:
                shape, total = plane.shape, np.zeros(plane.shape, dtype=np.float64)
            if plane.shape != shape:
                continue
            total += plane
            count += 1
            if count >= trace.MAX_FRAMES:
                break
    return (total / count).astype(np.float32), count


def timed(function, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def timing(old) -> None:
    count = trace.MAX_FRAMES + FPS
    for label, content, code in TRACE_CLIPS:
        data = trace_clip(content, code, count)
        for _ in range(3):
            for name, decode, reader in (("old", old_mean_luma, old), ("new", trace.mean_luma, watermark)):
                (image, _), decode_wall, decode_cpu = timed(decode, data)
                reading, read_wall, read_cpu = timed(reader.read_mean_luma, image)
                assert reading.code == code, reading
                print(
                    f"{label:8} {name}: {decode_wall + read_wall:5.2f} s wall ({decode_wall:.2f} decode + "
                    f"{read_wall:.2f} read), {decode_cpu + read_cpu:5.2f} s CPU ({decode_cpu:.2f} + {read_cpu:.2f}); "
                    f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
                    flush=True,
                )


def same(old, new) -> bool:
    return (
        old.code == new.code
        and old.found == new.found
        and old.version == new.version
        and old.crc_ok == new.crc_ok
        and old.sync_score == new.sync_score
        and old.confirm_score == new.confirm_score
        and old.scale == new.scale
        and old.scale_y == new.scale_y
        and old.flipped == new.flipped
    )


def equivalence(old, clips: int) -> None:
    rng = np.random.default_rng(2026)
    done = found = differ = 0
    started = time.perf_counter()
    contents = list(CONTENTS)
    while done < clips:
        content = contents[(done // len(CHAINS) // 2) % len(contents)]
        code = int(rng.integers(0, 2**32)) if (done // len(CHAINS)) % 2 == 0 else None
        frames = delivered(content, 300 + done, code)
        for chain in CHAINS[: clips - done]:
            attacked, fps = chain((frames, FPS))
            data = a._encode(attacked, fps, "libx264", {"crf": "18", "preset": "veryfast"})
            old_image, old_count = old_mean_luma(data)
            new_image, new_count = trace.mean_luma(data)
            old_reading, new_reading = old.read_mean_luma(old_image), watermark.read_mean_luma(new_image)
            identical = np.array_equal(old_image, new_image) and old_count == new_count
            agree = identical and same(old_reading, new_reading)
            done, found, differ = done + 1, found + new_reading.found, differ + (not agree)
            if not agree or new_reading.code not in (code, None):
                print(f"DIFFERENT: {content} {chain.name} code {code}: {old_reading} / {new_reading} ({identical=})")
        print(
            f"[{time.perf_counter() - started:5.0f} s] {done} clips ({content}, {'marked' if code else 'unmarked'}): "
            f"{found} traced, {differ} differing; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    print(f"{done} attacked clips, old reader against new: {differ} differ (mean picture, code, accept, scores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the git revision whose reader is the old one")
    parser.add_argument("--clips", type=int, default=2 * 7 * len(CHAINS))
    parser.add_argument("--timing-only", action="store_true")
    args = parser.parse_args()
    old = old_reader(args.against)
    timing(old)
    if not args.timing_only:
        equivalence(old, args.clips)


if __name__ == "__main__":
    main()
