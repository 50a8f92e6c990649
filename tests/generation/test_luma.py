"""The luma that tracing reads from decoded frames: the same bytes as swscale's gray conversion, for every
pixel format, range and size a leaked clip may come in, taken from the luma plane where that is exact."""

import io

import av
import numpy as np
import pytest

from generation import trace
from generation.luma import GrayFrames, gray_table
from tests.generation.footage import CONTENTS

# (codec, pixel format, container, options, colour range to tag, height, width)
KINDS = {
    "h264 limited range": ("libx264", "yuv420p", "mp4", {"crf": "23"}, None, 96, 160),
    "h264 width not a multiple of 32": ("libx264", "yuv420p", "mp4", {"crf": "23"}, None, 90, 154),
    "h264 full range": ("libx264", "yuv420p", "mp4", {}, 2, 96, 160),
    "h264 yuvj420p": ("libx264", "yuvj420p", "mp4", {}, None, 96, 160),
    "h264 4:4:4, odd width": ("libx264", "yuv444p", "mp4", {}, None, 97, 161),
    "h264 10-bit": ("libx264", "yuv420p10le", "mp4", {}, None, 96, 160),
    "h264 RGB": ("libx264rgb", "bgr0", "mp4", {}, None, 96, 160),
    "VP9": ("libvpx-vp9", "yuv420p", "webm", {"crf": "30", "b": "0"}, None, 96, 160),
    "tiny": ("libx264", "yuv420p", "mp4", {}, None, 16, 16),
}


def encoded(kind: str, frames: int = 6) -> bytes:
    codec, pixels, container_format, options, colour_range, height, width = KINDS[kind]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.options = width, height, pixels, options
        if colour_range is not None:
            stream.codec_context.color_range = colour_range
        for picture in CONTENTS["texture"](frames, height, width, seed=3):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            if colour_range is not None:
                frame.color_range = colour_range
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize("kind", KINDS)
def test_every_frame_s_luma_is_what_swscale_s_gray_conversion_gives(kind):
    gray = GrayFrames()
    with av.open(io.BytesIO(encoded(kind))) as container:
        for frame in container.decode(video=0):
            read = gray(frame)
            assert read.dtype == np.uint8 and read.shape == (frame.height, frame.width)
            assert np.array_equal(read, frame.to_ndarray(format="gray"))


@pytest.mark.parametrize(
    "kind, table",
    [("h264 limited range", True), ("VP9", True), ("h264 10-bit", False), ("h264 RGB", False), ("tiny", False)],
)
def test_the_table_is_used_only_where_it_was_measured_exact(kind, table):
    with av.open(io.BytesIO(encoded(kind, frames=1))) as container:
        frame = next(container.decode(video=0))
        assert (gray_table(frame) is not None) == table


def test_a_clip_s_mean_luma_is_the_mean_of_swscale_s_gray_frames():
    data = encoded("h264 limited range", frames=12)
    with av.open(io.BytesIO(data)) as container:
        frames = np.stack([frame.to_ndarray(format="gray") for frame in container.decode(video=0)])
    image, count = trace.mean_luma(data)
    assert count == 12 and image.dtype == np.float32
    assert np.array_equal(image, (frames.sum(axis=0, dtype=np.float64) / 12).astype(np.float32))
