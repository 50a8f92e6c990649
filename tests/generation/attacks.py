"""What leakers do to a clip, each a small function from a clip to a clip, chained as leaks happen.
A clip here is (frames, fps): decoded (n, H, W, 3) uint8 RGB frames and their rate. Scaling uses
FFmpeg's own scaler and every codec step is a real encode decoded back with PyAV."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

Clip = tuple[np.ndarray, float]
Attack = Callable[[Clip], Clip]


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _resize_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.stack(
        [
            av.VideoFrame.from_ndarray(frame, format="rgb24")
            .reformat(width=width, height=height, interpolation="BICUBIC")
            .to_ndarray(format="rgb24")
            for frame in frames
        ]
    )


def scale(factor: float, factor_y: float | None = None) -> Attack:
    """Resized by ``factor`` (and ``factor_y`` vertically, when the aspect changes)."""

    def attack(clip: Clip) -> Clip:
        frames, fps = clip
        _, height, width, _ = frames.shape
        size = _even(width * factor), _even(height * (factor if factor_y is None else factor_y))
        return _resize_frames(frames, *size), fps

    return attack


def resize_to(width: int, height: int) -> Attack:
    def attack(clip: Clip) -> Clip:
        return _resize_frames(clip[0], width, height), clip[1]

    return attack


def crop(fraction: float, top: float = 0.37, left: float = 0.61) -> Attack:
    """``fraction`` of the width and of the height cut away, split unevenly between the sides."""

    def attack(clip: Clip) -> Clip:
        frames, fps = clip
        _, height, width, _ = frames.shape
        new_h, new_w = _even(height * (1 - fraction)), _even(width * (1 - fraction))
        y0, x0 = int((height - new_h) * top) | 1, int((width - new_w) * left) | 1
        y0, x0 = min(y0, height - new_h), min(x0, width - new_w)
        return np.ascontiguousarray(frames[:, y0 : y0 + new_h, x0 : x0 + new_w]), fps

    return attack


def boxed(aspect_w: int, aspect_h: int, height: int = 480) -> Attack:
    """Fitted inside a black frame of another aspect ratio (letterbox or pillarbox), ``height`` high."""

    def attack(clip: Clip) -> Clip:
        frames, fps = clip
        _, src_h, src_w, _ = frames.shape
        out_w, out_h = _even(height * aspect_w / aspect_h), height
        fit = min(out_w / src_w, out_h / src_h)
        inner_w, inner_h = _even(src_w * fit), _even(src_h * fit)
        inner = _resize_frames(frames, inner_w, inner_h)
        out = np.zeros((len(frames), out_h, out_w, 3), np.uint8)
        top, left = (out_h - inner_h) // 2, (out_w - inner_w) // 2
        out[:, top : top + inner_h, left : left + inner_w] = inner
        return out, fps

    return attack


def _encode(frames: np.ndarray, fps: float, codec: str, options: dict, bit_rate: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4" if codec == "libx264" else "webm") as container:
        stream = container.add_stream(codec, rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = options
        if bit_rate:
            stream.bit_rate = bit_rate
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def h264(crf: int, preset: str = "veryfast") -> Attack:
    def attack(clip: Clip) -> Clip:
        return _decode(_encode(clip[0], clip[1], "libx264", {"crf": str(crf), "preset": preset})), clip[1]

    return attack


def h264_bitrate(kbits: int) -> Attack:
    """A fixed bitrate, as social networks re-encode (e.g. 300 kbit/s at 480p)."""

    def attack(clip: Clip) -> Clip:
        options = {"preset": "veryfast", "maxrate": f"{kbits}k", "bufsize": f"{2 * kbits}k"}
        return _decode(_encode(clip[0], clip[1], "libx264", options, bit_rate=kbits * 1000)), clip[1]

    return attack


def vp9(crf: int) -> Attack:
    def attack(clip: Clip) -> Clip:
        options = {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
        return _decode(_encode(clip[0], clip[1], "libvpx-vp9", options)), clip[1]

    return attack


def frame_rate(fps: float) -> Attack:
    """Resampled to ``fps`` by repeating or dropping frames, as a player or converter does."""

    def attack(clip: Clip) -> Clip:
        frames, rate = clip
        count = max(1, int(len(frames) * fps / rate))
        picks = np.minimum((np.arange(count) * rate / fps).astype(int), len(frames) - 1)
        return frames[picks], fps

    return attack


def trim(seconds: float, start: float = 0.3) -> Attack:
    """``seconds`` of the clip, starting ``start`` of the way into what is left."""

    def attack(clip: Clip) -> Clip:
        frames, fps = clip
        keep = min(len(frames), max(1, round(seconds * fps)))
        first = int((len(frames) - keep) * start)
        return frames[first : first + keep], fps

    return attack


def _table(function) -> Attack:
    """The same change to every channel value, as a lookup table."""
    table = np.clip(function(np.arange(256, dtype=np.float64) / 255.0) * 255.0, 0, 255).round().astype(np.uint8)

    def attack(clip: Clip) -> Clip:
        return table[clip[0]], clip[1]

    return attack


def brightness(gain: float) -> Attack:
    """Every value times ``gain`` (an exposure change: 0.8 is 20 % darker)."""
    return _table(lambda v: v * gain)


def contrast(factor: float) -> Attack:
    return _table(lambda v: (v - 0.5) * factor + 0.5)


def gamma(value: float) -> Attack:
    return _table(lambda v: v**value)


def saturation(factor: float) -> Attack:
    def attack(clip: Clip) -> Clip:
        out = np.empty_like(clip[0])
        for index, frame in enumerate(clip[0]):
            values = frame.astype(np.float32)
            grey = (values @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
            out[index] = np.clip(grey + (values - grey) * factor, 0, 255).round()
        return out, clip[1]

    return attack


def blur(clip: Clip) -> Clip:
    """A 3 x 3 box blur, as a soft screen recording."""
    values = np.pad(clip[0], ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge").astype(np.uint16)
    rows = values[:, :-2] + values[:, 1:-1] + values[:, 2:]
    summed = rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]
    return ((summed + 4) // 9).astype(np.uint8), clip[1]


def noise(sigma: float, seed: int = 0) -> Attack:
    """Sensor noise of a camera filming a screen, different in every frame (from a bank of 7 fields)."""

    def attack(clip: Clip) -> Clip:
        rng = np.random.default_rng(seed)
        bank = rng.normal(0, sigma, (7, *clip[0].shape[1:])).astype(np.float32)
        out = np.empty_like(clip[0])
        for index, frame in enumerate(clip[0]):
            out[index] = np.clip(frame + bank[index % 7], 0, 255).round()
        return out, clip[1]

    return attack


def flip(clip: Clip) -> Clip:
    return np.ascontiguousarray(clip[0][:, :, ::-1]), clip[1]


@dataclass(frozen=True)
class Chain:
    name: str
    attacks: tuple[Attack, ...]

    def __call__(self, clip: Clip) -> Clip:
        for attack in self.attacks:
            clip = attack(clip)
        return clip


def chain(name: str, *attacks: Attack) -> Chain:
    return Chain(name, attacks)
