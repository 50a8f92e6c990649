"""The marks every rendered clip carries: a visible corner stamp and an invisible per-job code.

The invisible mark has versions (generation/marks/v1.py, v2.py, v3.py). A job is marked with the version
for its frames' size (``version_for``: v2, or v3 for small frames) and records it; a clip is read with
every version known, newest first, so clips marked before a new version keep tracing. Each version's
patterns derive from fixed constants, not from settings: changing them would make every clip already
out there untraceable.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from generation.marks import v1, v2, v3
from generation.marks.reading import Reading

VERSIONS = {v3.VERSION: v3, v2.VERSION: v2, v1.VERSION: v1}  # newest first: the order they are read in
CURRENT_VERSION = v2.VERSION  # what new jobs are marked with (small frames: see version_for)
SMALL_VERSION = v3.VERSION  # what frames too small for CURRENT_VERSION are marked with
# Frames whose shorter side is under this are small. 480 pixels hold fewer than two of version 2's 256-pixel tiles,
# yet version 2 traced CogVideoX's and Wan's 480p frames (720x480, 832x480) through the small-frame attack chains
# 165 times of 168, version 3 154 (same footage and codes: half size + CRF 35 14 against 5 of 14, CRF 40 14
# against 7); bench/watermark.py --small --version.
SMALL_BELOW = 480
FRAME_CHUNK = 16  # frames marked at once: bounds the int16 working copy
LOOK_FRAMES = 4  # frames looked at to judge where the picture hides a stronger mark


def _check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"Expected (frames, height, width, 3) uint8 frames, got {frames.shape} {frames.dtype}.")


def version_for(height: int, width: int) -> int:
    """The mark version for frames of this size: CURRENT_VERSION, unless the frame's shorter side is under
    SMALL_BELOW; there SMALL_VERSION, whose 128-pixel tile repeats often enough to be measured after a halving."""
    return CURRENT_VERSION if min(height, width) >= SMALL_BELOW else SMALL_VERSION


def mark_invisible(
    frames: np.ndarray, code: int, *, version: int | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """``frames`` with ``code`` hidden in every frame's luma (the same offset added to R, G and B), in a
    new array or in ``out`` (which may be ``frames`` itself). The version is ``version_for`` the
    frames' size unless given."""
    _check_frames(frames)
    version = version_for(*frames.shape[1:3]) if version is None else version
    if version not in VERSIONS:
        raise ValueError(f"Unknown mark version {version}; known: {sorted(VERSIONS)}.")
    count, height, width, _ = frames.shape
    if version > 1:
        picks = np.arange(0, count, max(1, -(-count // LOOK_FRAMES)))
        looks = luma(frames[picks])
        # Each look's next frame (the last frame's previous one): how fast the picture moves, frame to frame.
        following = luma(frames[np.where(picks + 1 < count, picks + 1, picks - 1)]) if count > 1 else None
        delta = VERSIONS[version].delta_for(code, height, width, looks, following)
    else:
        delta = VERSIONS[version].delta_for(code, height, width)
    delta = delta[None, :, :, None]
    marked = np.empty_like(frames) if out is None else out
    work = np.empty((min(FRAME_CHUNK, count), height, width, 3), dtype=np.int16)
    for start in range(0, count, FRAME_CHUNK):
        chunk = frames[start : start + FRAME_CHUNK]
        out = work[: len(chunk)]
        np.add(chunk, delta, out=out)
        np.clip(out, 0, 255, out=out)
        marked[start : start + len(chunk)] = out
    return marked


def luma(frames: np.ndarray) -> np.ndarray:
    """BT.601 luma of (..., 3) RGB as float32."""
    return frames[..., 0] * np.float32(0.299) + frames[..., 1] * np.float32(0.587) + frames[..., 2] * np.float32(0.114)


def read_invisible(frames: np.ndarray) -> int | None:
    """The mark code hidden in (n, H, W, 3) RGB or (n, H, W) luma frames, or None when there is none."""
    return read_mean_luma(mean_luma(frames)).code


def mean_luma(frames: np.ndarray) -> np.ndarray:
    if frames.ndim == 4:
        return luma(frames).mean(axis=0)
    if frames.ndim == 3:
        return frames.mean(axis=0, dtype=np.float32)
    raise ValueError(f"Expected (frames, height, width[, 3]) frames, got {frames.shape}.")


def read_mean_luma(image: np.ndarray) -> Reading:
    """Read the mark from the per-pixel mean luma of a clip's frames with each version, newest first
    (a picture as large as CURRENT_VERSION marks reads with it first: only speed depends on the order);
    the first that finds a code wins, else the reading that came nearest."""
    best = None
    order = list(VERSIONS.values())
    if version_for(*image.shape) == CURRENT_VERSION:
        order.sort(key=lambda module: module.VERSION != CURRENT_VERSION)
    for module in order:
        reading = module.read(image)
        if reading.found:
            return reading
        if best is None or reading.sync_score > best.sync_score:
            best = reading
    return best


# --- The visible mark -------------------------------------------------------------------------------


@cache
def _stamp(text: str, height: int) -> np.ndarray:
    """``text`` in white with a dark outline, as (h, w, 4) float32 RGBA in [0, 1], sized for a frame ``height`` high."""
    from PIL import Image, ImageDraw, ImageFont

    size = max(9, height // 24)
    font = ImageFont.load_default(size=size)
    stroke = max(1, size // 10)
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    image = Image.new("RGBA", (right - left + 2, bottom - top + 2), (0, 0, 0, 0))
    ImageDraw.Draw(image).text(
        (1 - left, 1 - top), text, font=font, fill=(255, 255, 255, 255), stroke_width=stroke, stroke_fill=(0, 0, 0, 255)
    )
    return np.asarray(image, dtype=np.float32) / 255.0


def mark_visible(frames: np.ndarray, text: str, *, opacity: float) -> np.ndarray:
    """``frames`` with ``text`` stamped in the bottom-right corner at ``opacity`` (0 to 1)."""
    _check_frames(frames)
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"Opacity runs from 0 to 1, got {opacity}.")
    _, height, width, _ = frames.shape
    stamp = _stamp(text, height)
    margin = max(2, height // 40)
    stamp = stamp[: max(0, height - 2 * margin), : max(0, width - 2 * margin)]
    h, w = stamp.shape[:2]
    marked = frames.copy()
    if h == 0 or w == 0 or opacity == 0.0:
        return marked
    top, left = height - margin - h, width - margin - w
    alpha = stamp[..., 3:] * np.float32(opacity)
    region = marked[:, top : top + h, left : left + w].astype(np.float32)
    blended = region * (1 - alpha) + stamp[..., :3] * 255.0 * alpha
    marked[:, top : top + h, left : left + w] = np.rint(blended).astype(np.uint8)
    return marked


def psnr(original: np.ndarray, marked: np.ndarray) -> float:
    error = np.mean((original.astype(np.float64) - marked.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


# --- A rendered job's clip --------------------------------------------------------------------------


def visible_text(job) -> str:
    name = job.grant.programme.name
    return f"{name if len(name) <= 24 else name[:23] + '…'} · {job.job_code}"


def mark_clip(frames: np.ndarray, job, *, already_stamped: int = 0) -> np.ndarray:
    """Both marks for ``job``: the visible stamp first, then the invisible code (in the job's
    ``mark_version``) over the whole frame, so the stamp's corner carries the code too. The first
    ``already_stamped`` frames show a stamp of their own (an extended clip's source, with the source's code) and
    get no second one over it."""
    from django.conf import settings

    text, opacity = visible_text(job), settings.BACKLOT_WATERMARK_OPACITY
    stamped = mark_visible(frames[already_stamped:], text, opacity=opacity)
    if already_stamped:
        stamped = np.concatenate([frames[:already_stamped], stamped])
    return mark_invisible(stamped, job.mark_code, version=job.mark_version, out=stamped)
