"""Benchmark the invisible mark against what leakers do, on natural-looking footage: for each attack
chain x content, the share of trials traced to the right code and the lowest confirmation margin; false
hits on unmarked footage; PSNR; the cost of marking and reading. Pure numpy and PyAV on the CPU; no
database. Artefacts (a zoomed crop of a marked flat gradient) go to var/bench/.

    .venv/bin/python bench/watermark.py            # full: >= 500 marked trials, >= 10,000 unmarked reads
    .venv/bin/python bench/watermark.py --quick    # one code per content, fewer unmarked reads
    .venv/bin/python bench/watermark.py --small    # version 3 on 256x256 and 320x192 clips, marked and not
    .venv/bin/python bench/watermark.py --small --sizes 720x480,832x480 --frames 49 --version 2   # 480p, either version
    .venv/bin/python bench/watermark.py --quality-only   # PSNR, the flat-gradient crops and the timings
    .venv/bin/python bench/watermark.py --quick --against <rev>   # the same trials marked by <rev>'s marker too

With ``--against <rev>`` every marked trial is run twice in the same pool, interleaved (the same footage, codes
and load): marked by the revision's marker (its generation/watermark.py and generation/marks/, loaded as a
package of their own) and by the working tree's, both read by the working tree's reader; PSNR, crops and the
marking time are given for both. Unmarked reads are left out: no marker touches unmarked footage.
"""

from __future__ import annotations

import argparse
import importlib
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from generation import watermark  # noqa: E402
from generation.marks import v2, v3  # noqa: E402
from tests.generation import attacks as a  # noqa: E402
from tests.generation.footage import CONTENTS, SMOOTH  # noqa: E402

WIDTH, HEIGHT, FRAMES, FPS = 1280, 720, 60, 24
DELIVERY_CRF = 18  # BACKLOT_VIDEO_CRF's default: the clip as Backlot stores it
STAMP = "Alpha · 3ZK9QWA"
VIDEO_SEAL = "Video Seal 1.0 (published): bit accuracy 0.61 after H.264 CRF 30 + crop to 80 %"

CHAINS = [
    a.chain("crop 80% + CRF 30", a.crop(0.2), a.h264(30)),
    a.chain("720p->360p + CRF 35", a.resize_to(640, 360), a.h264(35)),
    a.chain("scale 0.25 + CRF 28", a.scale(0.25), a.h264(28)),
    a.chain("squeeze 4:3 640x480 + CRF 30", a.resize_to(640, 480), a.h264(30)),
    a.chain("stretch 960x720 + CRF 30", a.resize_to(960, 720), a.h264(30)),
    a.chain("letterbox 9:16 + CRF 28", a.boxed(9, 16, 640), a.h264(28)),
    a.chain("pillarbox 1:1 + crop 10%", a.crop(0.1), a.boxed(1, 1, 480), a.h264(30)),
    a.chain("480p at 300 kbit/s", a.resize_to(852, 480), a.h264_bitrate(300)),
    a.chain("480p VP9 CRF 40", a.resize_to(852, 480), a.vp9(40)),
    a.chain("24->30 fps + trim 2 s + CRF 40", a.frame_rate(30), a.trim(2.0, 0.7), a.h264(40)),
    a.chain("30->24 fps + scale 0.6 + CRF 23", a.frame_rate(30), a.frame_rate(24), a.scale(0.6), a.h264(23)),
    a.chain(
        "colour +-20% + CRF 30",
        a.gamma(1.2),
        a.contrast(0.8),
        a.saturation(1.2),
        a.brightness(1.2),
        a.h264(30),
    ),
    a.chain("screen rec: blur + noise + dim", a.blur, a.noise(3.0), a.brightness(0.8), a.contrast(1.2), a.h264(28)),
    a.chain("flip + crop 15% + CRF 32", a.flip, a.crop(0.15), a.h264(32)),
    a.chain(
        "trim 2s + crop 15% + 480p + CRF 32 + gamma",
        a.trim(2.0, 0.2),
        a.crop(0.15),
        a.resize_to(852, 480),
        a.gamma(0.8),
        a.h264(32),
    ),
]
VIDEO_SEAL_CHAIN = CHAINS[0].name
SMALL_SIZES = [(256, 256), (320, 192)]  # (width, height): the smoke model's clips and a small landscape one
SMALL_FRAMES = 36
SMALL_CHAINS = [
    a.chain("half size + CRF 30 + recut CRF 20", a.scale(0.5), a.h264(30), a.h264(20)),
    a.chain("half size + CRF 35", a.scale(0.5), a.h264(35)),
    a.chain("squeeze 0.75 x 0.6 + CRF 28", a.scale(0.75, 0.6), a.h264(28)),
    a.chain("crop 20% + CRF 26", a.crop(0.2, top=0.13, left=0.71), a.h264(26)),
    a.chain("letterbox 9:16 + CRF 26", a.boxed(9, 16, 480), a.h264(26)),
    a.chain("pillarbox 1:1 + crop 10%", a.crop(0.1), a.boxed(1, 1, 256), a.h264(28)),
    a.chain("CRF 40", a.h264(40)),
    a.chain("VP9 CRF 40", a.vp9(40)),
    a.chain("colour +-20% + CRF 30", a.gamma(1.2), a.contrast(0.8), a.saturation(1.2), a.h264(30)),
    a.chain("screen rec: blur + noise + dim", a.blur, a.noise(3.0), a.brightness(0.8), a.h264(28)),
    a.chain("flip + crop 15% + CRF 32", a.flip, a.crop(0.15), a.h264(32)),
    a.chain(
        "trim 1s + crop 15% + flip + 0.75 + gamma + CRF 30",
        a.trim(1.0, 0.2),
        a.crop(0.15),
        a.flip,
        a.scale(0.75),
        a.gamma(1.2),
        a.h264(30),
    ),
]
MARKER = watermark  # what marks the trials: the working tree's front, or a revision's (``marker_at``)
MARKERS = {"": watermark}  # label -> marker; with --against, the revision's and the working tree's
CHAIN_GROUPS = 3  # unmarked reads are split by content and by a third of the chains, for progress and workers


def marker_at(revision: str):
    """The revision's generation.watermark with its generation/marks/ package, loaded under names of their own."""
    package = f"_marker_{revision.replace('-', '_').replace('~', '_').replace('^', '_')}"
    folder = Path(tempfile.mkdtemp(prefix="backlot-marker-")) / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{revision}:generation/marks"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for path in [f"generation/marks/{name}" for name in listing if name.endswith(".py")] + ["generation/watermark.py"]:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{revision}:{path}"], capture_output=True, text=True, check=True
        ).stdout
        (folder / Path(path).name).write_text(text.replace("generation.marks", package))
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module(f"{package}.watermark")


def labelled(task):
    """Runs ``function(job)`` with the marker of ``label``: (label, result)."""
    global MARKER
    label, function, job = task
    MARKER = MARKERS[label]
    return label, function(job)


def delivered(content: str, seed: int, code: int | None) -> np.ndarray:
    """The content as Backlot delivers it: stamped, marked with ``code`` (None: unmarked), H.264 at
    DELIVERY_CRF, decoded back."""
    frames = watermark.mark_visible(CONTENTS[content](FRAMES, HEIGHT, WIDTH, seed=seed), STAMP, opacity=0.35)
    if code is not None:
        MARKER.mark_invisible(frames, code, out=frames)
    return a.h264(DELIVERY_CRF)((frames, FPS))[0]


# The clips the trace timings read: a marked one and an unmarked one, as (label, content, code).
TRACE_CLIPS = (("marked", "gradient", 7), ("unmarked", "texture", None))


def trace_clip(content: str, code: int | None, count: int) -> bytes:
    """``count`` frames of 720p ``content`` marked with ``code`` (None: unmarked), H.264 at DELIVERY_CRF: the
    MP4 that the trace timings read."""
    footage = CONTENTS[content](48, 720, 1280, seed=5)
    footage = footage[np.arange(count) % len(footage)]
    if code is not None:
        watermark.mark_invisible(footage, code, out=footage)
    return a._encode(footage, FPS, "libx264", {"crf": str(DELIVERY_CRF), "preset": "veryfast"})


def marked_trials(job: tuple[str, int, int]) -> list[tuple[str, str, bool, bool, float]]:
    """(chain, content, traced, wrong code, confirmation margin) for every chain, one content and code."""
    content, seed, code = job
    frames = delivered(content, seed, code)
    rows = []
    for chain in CHAINS:
        attacked, _ = chain((frames, FPS))
        reading = watermark.read_mean_luma(watermark.mean_luma(attacked))
        wrong = reading.code is not None and reading.code != code
        rows.append((chain.name, content, reading.code == code, wrong, reading.confirm_score - v2.CONFIRM_THRESHOLD))
    return rows


def unmarked_windows(job: tuple[str, int, int, int]) -> tuple[int, int, list[float], int, str]:
    """Reads of unmarked footage under every chain of one group (CHAIN_GROUPS of them): the whole
    picture and ``windows`` random windows of it (the reader's input is a mean-luma picture, so a window
    is a cheap, different picture). Returns (reads, false hits, v2 confirmation scores of every
    hypothesis, most hypotheses per read, content)."""
    content, seed, windows, group = job
    frames = delivered(content, seed, None)
    rng = np.random.default_rng(seed * CHAIN_GROUPS + group)
    reads = hits = most = 0
    scores: list[float] = []
    for chain in CHAINS[group::CHAIN_GROUPS]:
        image = watermark.mean_luma(chain((frames, FPS))[0])
        pictures = [image]
        height, width = image.shape
        for _ in range(windows):
            h, w = (
                int(rng.integers(min(160, height), min(400, height) + 1)),
                int(rng.integers(min(160, width), min(400, width) + 1)),
            )
            y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            pictures.append(image[y : y + h, x : x + w])
        for picture in pictures:
            reads += 1
            hits += watermark.read_mean_luma(picture).found
            hypotheses = list(v2.hypotheses(picture))
            most = max(most, len(hypotheses))
            if len(scores) < 200_000 and reads % 4 == 0:
                scores += [v2._read_tile(t, sy, sx, f, decode_always=True).confirm_score for sy, sx, f, t in hypotheses]
    return reads, hits, scores, most, content


def small_trials(job: tuple[str, int, int | None, tuple[int, int], int, int | None]):
    """Small frames (version 3, or ``version`` when given): for a marked job, (chain, content, traced, wrong, margin)
    per chain; for an unmarked one (code None), the reads, false hits and the version's confirmation scores of every
    hypothesis."""
    content, seed, code, (width, height), count, version = job
    mark = watermark.VERSIONS[version or v3.VERSION].MARK
    frames = watermark.mark_visible(CONTENTS[content](count, height, width, seed=seed), STAMP, opacity=0.35)
    if code is not None:
        assert version or watermark.version_for(height, width) == v3.VERSION
        MARKER.mark_invisible(frames, code, version=version, out=frames)
    clip = a.h264(DELIVERY_CRF)((frames, FPS))
    rows, scores, hits = [], [], 0
    for chain in SMALL_CHAINS:
        image = watermark.mean_luma(chain(clip)[0])
        reading = watermark.read_mean_luma(image)
        if code is None:
            hits += reading.found
            hypotheses = mark.hypotheses(image)
            scores += [mark.read_tile(t, sy, sx, f, decode_always=True).confirm_score for sy, sx, f, t in hypotheses]
            continue
        wrong = reading.code is not None and reading.code != code
        label = f"{content} {width}x{height}"
        rows.append((chain.name, label, reading.code == code, wrong, reading.confirm_score - mark.CONFIRM_THRESHOLD))
    return rows if code is not None else (len(SMALL_CHAINS), hits, scores)


def run_small(pool, codes: int, sizes=SMALL_SIZES, count: int = SMALL_FRAMES, version: int | None = None) -> None:
    rng = np.random.default_rng(31)
    marked = [
        (name, 200 + i, int(rng.integers(0, 2**32)), size, count, version)
        for i in range(codes)
        for name in CONTENTS
        for size in sizes
    ]
    unmarked = [
        (name, 700 + i, None, size, count, version) for i in range(codes) for name in CONTENTS for size in sizes
    ]
    version = version or v3.VERSION
    threshold = watermark.VERSIONS[version].MARK.CONFIRM_THRESHOLD
    tasks = [(label, small_trials, job) for job in marked for label in MARKERS]
    by_label = defaultdict(list)
    for label, result in pool.imap_unordered(labelled, tasks):
        by_label[label] += result
    for label in MARKERS:
        report_small(by_label[label], label, version, codes, count)
    if len(MARKERS) > 1:
        print("unmarked small clips: left out (--against: no marker touches unmarked footage)")
        return
    results = list(pool.imap_unordered(small_trials, unmarked))
    reads, hits = sum(r[0] for r in results), sum(r[1] for r in results)
    scores = np.array([x for r in results for x in r[2]])
    mean, std = float(scores.mean()), float(scores.std())
    tail = 0.5 * math.erfc((threshold - mean) / std / math.sqrt(2))
    print(
        f"unmarked small clips: {reads} reads, false hits {hits} (target 0); v{version} confirmation of {scores.size} "
        f"unmarked hypotheses: mean {mean:.2f}, sd {std:.2f}, max {scores.max():.2f}; threshold "
        f"{threshold}; Gaussian tail {tail:.1e}"
    )


def report_small(rows, marker: str, version: int, codes: int, count: int) -> None:
    labels = sorted({r[1] for r in rows})
    print(
        f"\nsmall frames, version {version}{f', marked by {marker}' if marker else ''}: {len(rows)} marked trials "
        f"({len(SMALL_CHAINS)} chains x {len(labels)} content/size x {codes} codes), {count} frames, stamped, "
        f"delivered at CRF {DELIVERY_CRF}"
    )
    for label in labels:
        cells = [r for r in rows if r[1] == label]
        misses = sorted({r[0] for r in cells if not r[2]})
        print(
            f"  {label:22} traced {sum(r[2] for r in cells):3}/{len(cells):<3} lowest margin "
            f"{min(r[4] for r in cells):+5.1f}  missed: {', '.join(misses) or '-'}"
        )
    for chain in SMALL_CHAINS:
        cells = [r for r in rows if r[0] == chain.name]
        print(
            f"  {chain.name:50} {sum(r[2] for r in cells):3}/{len(cells)}  "
            f"lowest margin {min(r[4] for r in cells):+5.1f}"
        )
    traced, wrong = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"traced {traced}/{len(rows)} = {100 * traced / len(rows):.1f} %; wrong codes {wrong} (target 0)")


def table(rows) -> None:
    by_cell = defaultdict(list)
    for chain, content, traced, wrong, margin in rows:
        by_cell[(chain, content)].append((traced, wrong, margin))
    contents = list(CONTENTS)
    print(f"{'attack chain':44}" + "".join(f"{name:>13}" for name in contents) + f"{'all':>9}")
    for chain in [c.name for c in CHAINS]:
        line, total, ok = f"{chain:44}", 0, 0
        for content in contents:
            cell = by_cell[(chain, content)]
            if not cell:
                line += f"{'-':>13}"
                continue
            traced = sum(t for t, _, _ in cell)
            total, ok = total + len(cell), ok + traced
            line += f"  {traced:2}/{len(cell):<2} {min(m for _, _, m in cell):+6.1f}"
        print(line + (f"  {100 * ok / total:5.1f}%" if total else f"{'-':>9}"))
    print("cells: traced/trials and the lowest confirmation margin (confirm score - threshold; < 0: not traced)")


def timings() -> None:
    frames = CONTENTS["gradient"](48, 512, 768, seed=5)
    print(f"load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (timings scale with it)")
    best = dict.fromkeys(MARKERS, math.inf)
    for _ in range(3):  # the markers in turn, best of 3 each: the same load for both
        for label, marker in MARKERS.items():
            started = time.perf_counter()
            marker.mark_invisible(frames, 0x9E3779B9)
            best[label] = min(best[label], (time.perf_counter() - started) / len(frames) * 1000)
    for label, mark_ms in best.items():
        print(f"marking{f' ({label})' if label else ''}: {mark_ms:.2f} ms per 768x512 frame, best of 3 (target <= 5)")
    # Reading as `manage.py trace` and the trace page do (generation.trace): decode the clip's first
    # MAX_FRAMES frames (the luma plane only), average them, read every version. A minute of 720p is read
    # from its first MAX_FRAMES frames, so a clip of those frames costs what a minute does.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from generation import trace

    count = trace.MAX_FRAMES + FPS
    for label, content, code in TRACE_CLIPS:
        data = trace_clip(content, code, count)
        best = []
        for _ in range(3):
            started, cpu = time.perf_counter(), time.process_time()
            image, read = trace.mean_luma(data)
            decoded = time.perf_counter()
            reading = watermark.read_mean_luma(image)
            best.append((time.perf_counter() - started, decoded - started, time.process_time() - cpu))
            assert reading.code == code, reading
        total, decode, cpu = min(best)
        print(
            f"reading a minute of 720p, {label} ({read} of {count} frames decoded, as trace does): {total:.2f} s "
            f"= {decode:.2f} s decoding and averaging + {total - decode:.2f} s reading every version; {cpu:.2f} s "
            f"of CPU (best of 3, load {os.getloadavg()[0]:.1f}; target <= 1 s)"
        )


QUALITY_SIZES = [(1280, 720, 24), (720, 480, 49), (832, 480, 49)]  # (width, height, frames): 720p, CogVideoX, Wan


def quality(out: Path) -> None:
    print(
        f"\nPSNR of the invisible mark (v2), per size and frames; flat: pixels whose local contrast is under "
        f"{FLAT_CONTRAST} levels (at the first size):"
    )
    for label, marker in MARKERS.items():
        if label:
            print(f" marked by {label}:")
        for name in CONTENTS:
            line = f"  {name:10}"
            for index, (width, height, count) in enumerate(QUALITY_SIZES):
                frames = CONTENTS[name](count, height, width, seed=2)
                marked = marker.mark_invisible(frames, 0x51F15EED, version=2)
                line += f" {width}x{height}x{count} {watermark.psnr(frames, marked):5.1f} dB"
                if index == 0:
                    line += f" (flat areas {flat_psnr(frames, marked)})"
            print(line + ("  (smooth: target >= 42 dB)" if name in SMOOTH else ""))
    for label, marker in MARKERS.items():
        suffix = f"_{label.split()[0]}" if label else ""
        for (width, height), version in (((1280, 720), 2), ((256, 256), 3)):
            flat = flat_gradient(height, width)
            marked = marker.mark_invisible(np.ascontiguousarray(flat[None]), 0x51F15EED)[0]
            assert watermark.version_for(height, width) == version
            offset = marked[..., 1].astype(np.float64) - flat[..., 1]
            side = min(256, height, width)
            top, left = (height - side) // 2, (width - side) // 2
            window = (slice(top, top + side), slice(left, left + side))
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"watermark_flat_gradient_v{version}{suffix}_x3.png"
            _zoomed(np.concatenate([flat[window], marked[window]], 1)).save(path)
            # The offset amplified DIFF_GAIN times around mid grey: what the mark is, seen plainly.
            amplified = np.clip(128 + DIFF_GAIN * offset[window], 0, 255).round().astype(np.uint8)
            diff_path = out / f"watermark_flat_gradient_v{version}{suffix}_diff_x{DIFF_GAIN}.png"
            _zoomed(np.repeat(amplified[..., None], 3, axis=-1)).save(diff_path)
            print(
                f"  flat gradient {width}x{height} (v{version}{f', {label}' if label else ''}): "
                f"{watermark.psnr(flat[None], marked[None]):5.1f} dB, offset RMS {offset.std():.2f} levels, peak "
                f"{np.abs(offset).max():.0f}, offset levels {np.unique(offset).astype(int).tolist()}; zoomed crop "
                f"(left unmarked, right marked, x3): {path}; offset x{DIFF_GAIN}: {diff_path}"
            )


DIFF_GAIN = 20
FLAT_CONTRAST = 1.0


def flat_gradient(height: int, width: int) -> np.ndarray:
    """A clean, still gradient (no grain): the hardest picture to hide a mark in."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.repeat((90 + 80 * x / width + 20 * y / height)[..., None], 3, axis=-1).round().astype(np.uint8)


def flat_psnr(frames: np.ndarray, marked: np.ndarray) -> str:
    from generation.marks import coding

    first = watermark.luma(frames[0])
    mean = coding.box_blur(first, 3)
    contrast = np.sqrt(np.maximum(coding.box_blur(first * first, 3) - mean * mean, 0))
    flat = contrast < FLAT_CONTRAST
    if flat.mean() < 0.01:
        return "   -   (none)"
    return f"{watermark.psnr(frames[:, flat], marked[:, flat]):5.1f} dB ({100 * flat.mean():2.0f} % of the picture)"


def _zoomed(crop: np.ndarray):
    from PIL import Image

    return Image.fromarray(crop).resize((crop.shape[1] * 3, crop.shape[0] * 3), Image.Resampling.NEAREST)


def _sizes(text: str) -> list[tuple[int, int]]:
    sizes = [tuple(int(side) for side in size.split("x")) for size in text.split(",")]
    if any(width < 64 or height < 64 for width, height in sizes):
        raise argparse.ArgumentTypeError("sizes are WxH of at least 64x64, e.g. 720x480")
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one code per content, 7 x 15 x 7 unmarked reads")
    parser.add_argument("--codes", type=int, help="random codes per content (full: 5)")
    parser.add_argument("--windows", type=int, help="random windows read per unmarked picture (full: 96)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--small", action="store_true", help="only version 3 on small frames (--codes: per content)")
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=SMALL_SIZES,
        help="with --small, the frame sizes as WxH,WxH (default 256x256,320x192; CogVideoX and Wan render 720x480 "
        "and 832x480, which version 2 marks: compare with --version 3)",
    )
    parser.add_argument("--version", type=int, choices=[2, 3], help="with --small, mark with this version")
    parser.add_argument("--frames", type=int, help=f"with --small, frames per clip (default {SMALL_FRAMES})")
    parser.add_argument("--quality-only", action="store_true", help="only PSNR, the flat-gradient crops, timings")
    parser.add_argument(
        "--unmarked-only", action="store_true", help="skip the marked trials: unmarked reads, quality and timings"
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="mark every trial with this git revision's marker too (same footage, codes and pool; no unmarked reads)",
    )
    args = parser.parse_args()
    if args.against:
        MARKERS.clear()
        MARKERS[f"before ({args.against})"] = marker_at(args.against)
        MARKERS["after (working tree)"] = watermark
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    codes = args.codes or (1 if args.quick else 5)
    windows = args.windows if args.windows is not None else (6 if args.quick else 96)
    unmarked_seeds = 1
    started = time.perf_counter()
    if args.quality_only:
        quality(ROOT / "var" / "bench")
        timings()
        return
    if args.small:
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            run_small(pool, args.codes or 2, args.sizes, args.frames or SMALL_FRAMES, args.version)
        print(f"\nbench wall time {time.perf_counter() - started:.0f} s with {args.workers} workers")
        return
    rng = np.random.default_rng(13)
    jobs = [(name, 100 + i, int(rng.integers(0, 2**32))) for i in range(codes) for name in CONTENTS]
    if args.unmarked_only:
        jobs = []
    tasks = [(label, marked_trials, job) for job in jobs for label in MARKERS]
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        by_label = defaultdict(list)
        for done, (label, result) in enumerate(pool.imap_unordered(labelled, tasks), 1):
            rows = by_label[label]
            rows += result
            print(
                f"[{time.perf_counter() - started:6.0f} s] marked {done}/{len(tasks)}{f' {label}' if label else ''}: "
                f"{result[0][1]}, traced {sum(r[2] for r in result)}/{len(result)}; so far "
                f"{sum(r[2] for r in rows)}/{len(rows)}, wrong {sum(r[3] for r in rows)}",
                flush=True,
            )
            if len(MARKERS) == 1 and done % len(CONTENTS) == 0 and done < len(tasks):
                print(f"partial table after {done} of {len(tasks)} jobs:")
                table(rows)
                sys.stdout.flush()
        for label, rows in by_label.items():
            report_marked(rows, codes, label)
        if args.against:
            pool.close()
            quality(ROOT / "var" / "bench")
            timings()
            print(f"\nbench wall time {time.perf_counter() - started:.0f} s with {args.workers} workers")
            return
        unmarked_jobs = [
            (name, 500 + i, windows, group)
            for i in range(unmarked_seeds)
            for name in CONTENTS
            for group in range(CHAIN_GROUPS)
        ]
        unmarked = []
        for done, result in enumerate(pool.imap_unordered(unmarked_windows, unmarked_jobs), 1):
            unmarked.append(result)
            print(
                f"[{time.perf_counter() - started:6.0f} s] unmarked {done}/{len(unmarked_jobs)}: {result[4]}, "
                f"{result[0]} reads; so far {sum(u[0] for u in unmarked)} reads, "
                f"{sum(u[1] for u in unmarked)} false hits",
                flush=True,
            )
    report_unmarked(unmarked, unmarked_seeds)
    quality(ROOT / "var" / "bench")
    timings()
    print(f"\nbench wall time {time.perf_counter() - started:.0f} s with {args.workers} workers")


def report_marked(rows, codes: int, marker: str = "") -> None:
    print(
        f"\n{len(rows)} marked trials: {len(CHAINS)} attack chains x {len(CONTENTS)} contents x {codes} random codes; "
        f"source {WIDTH}x{HEIGHT}, {FRAMES} frames at {FPS} fps, stamped, marked (v{watermark.CURRENT_VERSION}"
        f"{f', by {marker}' if marker else ''}) "
        f"and delivered at CRF {DELIVERY_CRF}"
    )
    table(rows)
    traced = sum(r[2] for r in rows)
    wrong = sum(r[3] for r in rows)
    print(f"traced to the right code: {traced}/{len(rows)} = {100 * traced / len(rows):.1f} % (target >= 99 %)")
    print(f"wrong codes returned: {wrong} (target 0)")
    seal = [r for r in rows if r[0] == VIDEO_SEAL_CHAIN]
    print(f"{VIDEO_SEAL}; ours, same attack: traced {sum(r[2] for r in seal)}/{len(seal)}")
    sys.stdout.flush()


def report_unmarked(unmarked, unmarked_seeds: int) -> None:
    reads = sum(u[0] for u in unmarked)
    hits = sum(u[1] for u in unmarked)
    scores = np.array([s for u in unmarked for s in u[2]])
    most = max(u[3] for u in unmarked)
    print(
        f"\nunmarked: {reads} reads (whole pictures and windows of {len(CONTENTS)} contents x {unmarked_seeds} "
        f"shots x {len(CHAINS)} chains), false hits: {hits} (target 0)"
    )
    mean, std = float(scores.mean()), float(scores.std())
    tail = 0.5 * math.erfc((v2.CONFIRM_THRESHOLD - mean) / std / math.sqrt(2))
    print(
        f"v2 confirmation score of unmarked hypotheses ({scores.size} measured, decoded whatever sync and CRC said): "
        f"mean {mean:.2f}, sd {std:.2f}, max {scores.max():.2f}; threshold {v2.CONFIRM_THRESHOLD}"
    )
    tried = most + v2.MOST_NUDGES
    print(
        f"false positive per trace <= {tried} hypotheses ({most} + {v2.MOST_NUDGES} nudges) x 2^-16 (CRC) x "
        f"{tail:.1e} (Gaussian tail of the confirmation) = {tried * tail / 2**16:.1e} for v2; v1 adds 11 x 2^-16 x "
        "its own tail (v1 unchanged)"
    )


if __name__ == "__main__":
    main()
