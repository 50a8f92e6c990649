"""Poster frames: one still per clip for the gallery, taken from the middle of the clip (the first
frame of a render is often the least developed)."""

from __future__ import annotations

import io

import numpy as np

POSTER_MAX_SIDE = 480
POSTER_QUALITY = 82


def poster_jpeg(frames: np.ndarray, *, max_side: int = POSTER_MAX_SIDE) -> bytes:
    """The middle frame of (frames, H, W, 3) uint8 RGB as a JPEG no larger than ``max_side`` on either side."""
    from PIL import Image

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise ValueError(f"Expected (frames, height, width, 3) uint8 frames, got {frames.shape} {frames.dtype}.")
    image = Image.fromarray(np.ascontiguousarray(frames[len(frames) // 2]))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)  # keeps the aspect ratio, never enlarges
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=POSTER_QUALITY, optimize=True)
    return buffer.getvalue()
