"""The 8-bit luma of decoded video frames, exactly as ``frame.to_ndarray(format="gray")`` gives it, read
from the frame's own luma plane through a 256-entry table rather than through swscale.

Tracing decodes up to 150 frames of a clip, and swscale's gray conversion (a range conversion of every
pixel) cost more than the H.264 decoding itself: about 2.5 ms per 720p frame, where the table costs about
1 ms. The table is measured, not assumed: swscale converts a probe frame of the same pixel format, size,
colour range and colour space, whose luma holds every value at many positions and whose chroma is noise;
it is used only where that conversion is one gray value per luma value, and where it also gives the first
real frame exactly. Anything else (an RGB or 10-bit stream, a conversion that is not one value per value)
goes through swscale as before.
"""

from __future__ import annotations

import numpy as np

# 8-bit pixel formats whose first plane is the luma, one byte a pixel.
LUMA_FIRST = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "nv12",
        "nv21",
    }
)


def luma_plane(frame) -> np.ndarray:
    """The frame's first plane as (height, width) uint8, without a copy (valid while the frame is)."""
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]


def _kind(frame) -> tuple:
    return frame.format.name, frame.width, frame.height, frame.color_range, frame.colorspace


def gray_table(frame) -> np.ndarray | None:
    """The table from ``frame``'s luma values to swscale's gray values, measured on a probe frame of its
    kind, or None where that conversion is not one gray value per luma value."""
    import av

    if frame.format.name not in LUMA_FIRST:
        return None
    width, height = frame.width, frame.height
    probe = av.VideoFrame(width, height, frame.format.name)
    probe.color_range, probe.colorspace = frame.color_range, frame.colorspace
    rng = np.random.default_rng(0)
    # Each value at many columns, so at every SIMD lane (uint8 sums wrap: modulo 256).
    values = (np.arange(width) % 256).astype(np.uint8)[None, :] + (7 * np.arange(height) % 256).astype(np.uint8)[
        :, None
    ]
    luma_plane(probe)[:] = values
    for plane in probe.planes[1:]:
        np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size, dtype=np.uint8)
    gray = probe.to_ndarray(format="gray")
    if np.unique(values).size < 256:
        return None  # a frame too small to show every value
    table = np.zeros(256, dtype=np.uint8)
    table[values.ravel()] = gray.ravel()
    if not np.array_equal(table[values], gray):
        return None
    if not np.array_equal(np.take(table, luma_plane(frame)), frame.to_ndarray(format="gray")):
        return None
    return table


class GrayFrames:
    """Turns decoded frames into their gray luma (as ``frame.to_ndarray(format="gray")``), through the
    table measured for each new kind of frame where there is one."""

    def __init__(self):
        self._kind = None
        self._table = None
        self._identity = False

    def __call__(self, frame) -> np.ndarray:
        kind = _kind(frame)
        if kind != self._kind:
            self._kind, self._table = kind, gray_table(frame)
            self._identity = self._table is not None and np.array_equal(self._table, np.arange(256))
            if self._table is not None:
                # The same table for two pixels at once: every pair of bytes, read as one uint16.
                pairs = np.arange(2**16, dtype=np.uint16).view(np.uint8)
                self._pairs = self._table[pairs].view(np.uint16)
        if self._table is None:
            return frame.to_ndarray(format="gray")
        luma = luma_plane(frame)
        if self._identity:
            return luma
        if frame.width % 2 == 0:  # two pixels a lookup: half the cost
            return np.take(self._pairs, luma.view(np.uint16)).view(np.uint8)
        return np.take(self._table, luma)
