"""Clips for the watermark tests and bench: frames that look like video, and what a leaker does to a
file (re-encode smaller, scale down, crop), each done to real MP4 bytes and decoded back with PyAV."""

from __future__ import annotations

import functools
import io

import av
import numpy as np

from generation.encoding import encode_mp4

# Scenes up to this size are drawn once per process (about 0.13 s for the default 25 frames of 256x256) and each
# caller gets a copy of its own; larger ones (the benches') are drawn each time rather than kept in memory.
KEPT_SCENE_BYTES = 2**24


def moving_scene(count: int = 25, height: int = 256, width: int = 256, *, seed: int = 0) -> np.ndarray:
    """Smooth drifting gradients with a disc and a bar moving across them, (count, H, W, 3) uint8."""
    if count * height * width * 3 <= KEPT_SCENE_BYTES:
        return _kept_scene(count, height, width, seed).copy()
    return _scene(count, height, width, seed)


@functools.lru_cache(maxsize=16)
def _kept_scene(count: int, height: int, width: int, seed: int) -> np.ndarray:
    frames = _scene(count, height, width, seed)
    frames.flags.writeable = False
    return frames


def _scene(count: int, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phase, hue = rng.uniform(0, 2 * np.pi, 2)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        base = 0.5 + 0.4 * np.sin((x + 3 * t) / width * 4.4 + phase) * np.cos((y - 2 * t) / height * np.pi)
        image = np.stack([base, base * 0.8 + 0.1 * np.sin(x / 40 + hue), 1 - base], axis=-1)
        cx, cy = (width * 0.3 + 4 * t) % width, (height * 0.5 + 2 * t) % height
        image[(x - cx) ** 2 + (y - cy) ** 2 < (min(height, width) / 6) ** 2] = (0.9, 0.2, 0.1)
        image[(abs(x - (width * 0.7 - 3 * t) % width) < width / 10) & (abs(y - height * 0.3) < height / 8)] = (
            0.1,
            0.3,
            0.9,
        )
        frames[t] = np.clip(image * 255, 0, 255).astype(np.uint8)
    return frames


def decode(data: bytes, pixel_format: str = "rgb24") -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.stack([frame.to_ndarray(format=pixel_format) for frame in container.decode(video=0)])


def reencode(data: bytes, *, crf: int) -> bytes:
    return encode_mp4(decode(data), fps=24, crf=crf)


def half_size(data: bytes, *, crf: int = 23) -> bytes:
    """Scaled to half its width and height by FFmpeg's scaler, then encoded again."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width // 4 * 2, stream.codec_context.height // 4 * 2
        frames = [
            frame.reformat(width=width, height=height).to_ndarray(format="rgb24") for frame in container.decode(stream)
        ]
    return encode_mp4(np.stack(frames), fps=24, crf=crf)


def crop(data: bytes, *, fraction: float = 0.1, top: int = 13, left: int = 7, crf: int = 23) -> bytes:
    """``fraction`` of the width and height cut away (at an odd offset from the top left), then encoded again."""
    frames = decode(data)
    _, height, width, _ = frames.shape
    new_height, new_width = int(height * (1 - fraction)) // 2 * 2, int(width * (1 - fraction)) // 2 * 2
    return encode_mp4(np.ascontiguousarray(frames[:, top : top + new_height, left : left + new_width]), fps=24, crf=crf)
