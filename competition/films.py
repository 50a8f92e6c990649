"""What is done to an uploaded film, by its content rather than its name: check it is an H.264 MP4
within the call's limits, read the invisible marks of the clips it was cut from, and make the blind
copy that reviewers watch (a remux with every piece of metadata stripped)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.core.exceptions import ValidationError

from generation import watermark
from generation.luma import GrayFrames
from generation.trace import clip_kind

# The invisible mark is read from the mean of a window of frames. A film is cut from several clips,
# so windows are short (a clip is rarely shorter than one second) and overlap by half, so that each
# clip of at least WINDOW frames fills one window alone wherever its cuts fall. Frames are summed in
# chunks of STRIDE as they are decoded, so memory stays flat however long the film is.
WINDOW = 24
STRIDE = WINDOW // 2
MAX_WINDOWS = 120  # beyond this, windows are spread evenly over the film (bounds the time to read it)
# The mark repeats in every 128-pixel tile, so the centre of the picture carries it as well as the whole
# picture does, at a fraction of the cost of reading a large frame.
READ_SIDE = 512
MIN_SECONDS = 1.0
MAX_PIXELS = 4096 * 2304
PROGRESS_FRAMES = 48


@dataclass
class FilmInfo:
    duration: float
    width: int
    height: int
    frames: int
    marks: list[int] = field(default_factory=list)  # each distinct code, in the order first found
    windows_read: int = 0


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _centre(plane: np.ndarray) -> np.ndarray:
    height, width = plane.shape
    top, left = max(0, (height - READ_SIDE) // 2), max(0, (width - READ_SIDE) // 2)
    return plane[top : top + READ_SIDE, left : left + READ_SIDE]


class _MarkReader:
    """Reads the marks of windows of frames fed one at a time: window i is chunks i and i + 1."""

    def __init__(self, expected_frames: int):
        windows = max(1, -(-expected_frames // STRIDE) - 1)
        self.selected = None
        if windows > MAX_WINDOWS:
            self.selected = {round(i * (windows - 1) / (MAX_WINDOWS - 1)) for i in range(MAX_WINDOWS)}
        self.previous = None  # (sum, count) of the last complete chunk
        self.current, self.count, self.chunk, self.shape = None, 0, 0, None
        self.marks: list[int] = []
        self.windows_read = self.frames = 0

    def add(self, plane: np.ndarray) -> None:
        plane = _centre(plane)
        if self.shape is None:
            self.shape = plane.shape
        if plane.shape != self.shape:
            return  # a change of size mid-stream: the first size is the one read
        self.frames += 1
        if self.current is None:
            self.current = np.zeros(self.shape, dtype=np.float32)
        self.current += plane
        self.count += 1
        if self.count == STRIDE:
            self._end_chunk()

    def _end_chunk(self) -> None:
        if self.previous is not None and (self.selected is None or self.chunk - 1 in self.selected):
            self._read((self.previous[0] + self.current) / (self.previous[1] + self.count))
        self.previous, self.current, self.count = (self.current, self.count), None, 0
        self.chunk += 1

    def finish(self) -> None:
        if self.count:
            self._end_chunk()
        if self.windows_read == 0 and self.previous is not None:  # a film shorter than two chunks
            self._read(self.previous[0] / self.previous[1])

    def _read(self, mean: np.ndarray) -> None:
        self.windows_read += 1
        code = watermark.read_mean_luma(mean).code
        if code is not None and code not in self.marks:
            self.marks.append(code)


def _file_check(data: bytes, *, max_bytes: int) -> None:
    if not data:
        raise ValidationError("The file is empty.")
    if len(data) > max_bytes:
        raise ValidationError(
            f"Films up to {max_bytes // 2**20} MB are accepted; this one is {len(data) / 2**20:.0f} MB."
        )
    if clip_kind(data) != "mp4":
        raise ValidationError("This is not an MP4 file. Export the film as MP4 (H.264 video).")


def _stream_check(container, *, max_seconds: float):
    """The video stream and its duration, from the container's header, if they are within the limits."""
    if not container.streams.video:
        raise ValidationError("The file has no video stream.")
    stream = container.streams.video[0]
    codec = stream.codec_context.name
    if codec != "h264":
        raise ValidationError(f"The video is encoded as {codec}; films must be H.264.")
    duration = _duration(container, stream)
    if duration > max_seconds:
        raise ValidationError(f"Films may last up to {max_seconds:g} s; this one lasts {duration:.1f} s.")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > MAX_PIXELS:
        raise ValidationError(f"Frames of {width}x{height} are larger than 4096x2304.")
    return stream, duration


def film_probe(data: bytes, *, max_seconds: float, max_bytes: int) -> None:
    """The checks an upload request can afford: size, container, and what the MP4's header says (codec,
    duration, frame size), without decoding a frame. Raises ValidationError for the entrant."""
    import av

    _file_check(data, max_bytes=max_bytes)
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            _, duration = _stream_check(container, max_seconds=max_seconds)
    except (av.FFmpegError, ValueError, IndexError) as error:
        raise ValidationError(f"The video could not be read ({error}).") from None
    if duration < MIN_SECONDS:
        raise ValidationError(f"Films must last at least {MIN_SECONDS:g} s; this one lasts {duration:.1f} s.")


def film_read(
    data: bytes, *, max_seconds: float, max_bytes: int, progress: Callable[[float], None] | None = None
) -> FilmInfo:
    """Check ``data`` is an H.264 MP4 within the limits, decode it and read its marks. Raises
    ValidationError with a message for the entrant when it is not. ``progress`` is told the share of the
    frames decoded, now and then."""
    import av

    _file_check(data, max_bytes=max_bytes)
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream, duration = _stream_check(container, max_seconds=max_seconds)
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = float(stream.average_rate or 24)
            expected = stream.frames or round(duration * rate)
            reader = _MarkReader(expected)
            stream.thread_type = "AUTO"
            gray = GrayFrames()
            for frame in container.decode(stream):
                reader.add(gray(frame))
                if progress and reader.frames % PROGRESS_FRAMES == 0:
                    progress(min(1.0, reader.frames / max(expected, 1)))
            reader.finish()
    except (av.FFmpegError, ValueError, IndexError) as error:
        raise ValidationError(f"The video could not be decoded ({error}).") from None
    if not reader.frames:
        raise ValidationError("The video has no frames that could be decoded.")
    if duration < MIN_SECONDS:
        raise ValidationError(f"Films must last at least {MIN_SECONDS:g} s; this one lasts {duration:.1f} s.")
    return FilmInfo(
        duration=duration,
        width=width,
        height=height,
        frames=reader.frames,
        marks=reader.marks,
        windows_read=reader.windows_read,
    )


def blind_copy(data: bytes) -> bytes:
    """The film's video and audio, remuxed without any container or stream metadata, chapters, subtitles
    or data streams, and with the H.264 SEI messages (where encoders write their own notes) removed."""
    import av
    from av.bitstream import BitStreamFilterContext

    with tempfile.TemporaryDirectory(prefix="backlot-blind-") as folder:
        path = Path(folder) / "blind.mp4"
        with av.open(io.BytesIO(data), mode="r") as source:
            # +bitexact: the muxer writes no "encoder" tag either.
            options = {"movflags": "+faststart", "fflags": "+bitexact"}
            with av.open(str(path), mode="w", format="mp4", options=options) as target:
                video_in = source.streams.video[0]
                video_out = target.add_stream_from_template(video_in)
                outputs = {video_in.index: video_out}
                filters = {video_in.index: BitStreamFilterContext("filter_units=remove_types=6", video_in, video_out)}
                if source.streams.audio:
                    audio_in = source.streams.audio[0]
                    outputs[audio_in.index] = target.add_stream_from_template(audio_in)
                for stream in outputs.values():
                    stream.metadata.clear()
                for packet in source.demux(*[source.streams[index] for index in outputs]):
                    index = packet.stream.index
                    if packet.dts is None:
                        continue
                    produced = filters[index].filter(packet) if index in filters else [packet]
                    for out in produced:
                        out.stream = outputs[index]
                        target.mux(out)
                for index, bsf in filters.items():
                    for out in bsf.filter(None):
                        out.stream = outputs[index]
                        target.mux(out)
        return path.read_bytes()
