"""H.264 encoding of rendered frames with PyAV."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np


def frames_to_uint8(frames: np.ndarray) -> np.ndarray:
    """Pipeline output (frames, H, W, 3) floats in [0, 1] to 8-bit RGB."""
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def encode_mp4(
    frames: np.ndarray, *, fps: int, crf: int = 18, preset: str = "veryfast", metadata: dict[str, str] | None = None
) -> bytes:
    """Encode (frames, H, W, 3) uint8 RGB as an H.264 MP4 that browsers can stream, with ``metadata``
    written as container tags (read back by ``read_metadata``)."""
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"Expected (frames, height, width, 3) uint8 frames, got {frames.shape} {frames.dtype}.")
    count, height, width, _ = frames.shape
    if count == 0:
        raise ValueError("Cannot encode a video with no frames.")
    if width % 2 or height % 2:
        raise ValueError(f"H.264 needs even sizes; got {width}x{height}.")
    # A real file, not a buffer: +faststart (the index up front, so browsers play while loading)
    # rewrites the file after encoding, which PyAV cannot do to a Python file object.
    with tempfile.TemporaryDirectory(prefix="backlot-encode-") as folder:
        path = Path(folder) / "clip.mp4"
        options = {"movflags": "+faststart+use_metadata_tags"}
        with av.open(str(path), mode="w", format="mp4", options=options) as container:
            container.metadata.update(metadata or {})
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
        return path.read_bytes()


def decode_mp4(data: bytes) -> np.ndarray:
    """Every frame of an MP4 as (frames, H, W, 3) uint8 RGB."""
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(container.streams.video[0])])


def probe_mp4(data: bytes) -> dict:
    """Decode an MP4 fully and describe it: codec, size, frame count, frame rate."""
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {
            "codec": stream.codec_context.name,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "frames": frames,
            "fps": float(stream.average_rate) if stream.average_rate else None,
        }


def read_metadata(data: bytes) -> dict[str, str]:
    """The container tags of an MP4 (or any file PyAV opens); empty when it cannot be read."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            return dict(container.metadata)
    except (av.FFmpegError, ValueError):
        return {}
