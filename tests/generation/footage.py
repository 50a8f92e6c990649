"""Natural-looking procedural footage for the watermark tests and bench: smooth gradients with moving
shapes, a still textured shot, dark and bright scenes, fast motion, skin tones and drifting smoke. Not
noise: a mark that hides in noise can still break on the smooth, dark or static shots of real video.
Each maker returns (count, height, width, 3) uint8 RGB and is deterministic for a seed."""

from __future__ import annotations

import numpy as np

from tests.generation.clips import moving_scene


def _fractal(rng: np.random.Generator, height: int, width: int, slope: float = 1.8) -> np.ndarray:
    """Noise with a 1/f^slope spectrum (like natural images), scaled to zero mean and unit std."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.maximum(np.hypot(fy, fx), 1.0 / max(height, width))
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) / radius ** (slope / 2 + 0.5)
    field = np.fft.irfft2(spectrum, s=(height, width))
    return ((field - field.mean()) / field.std()).astype(np.float32)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0, 0, 255).round().astype(np.uint8)


def _grain(rng, shape, level=0.004):
    return rng.normal(0, level, shape).astype(np.float32)


def gradient(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth drifting colour gradients with a disc and a bar moving across them."""
    return moving_scene(count, height, width, seed=seed)


def texture(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A still shot of a textured landscape (foliage over ground): the same picture in every frame,
    only camera grain changes, so averaging frames does not cancel the content."""
    rng = np.random.default_rng(seed)
    detail = _fractal(rng, height, width, 1.6)
    tint = _fractal(rng, height, width, 2.6)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = 0.45 + 0.12 * detail + 0.06 * tint
    image = np.stack([base * (0.8 + 0.1 * y), base * (1.0 - 0.1 * y), base * 0.6 + 0.1 * y], axis=-1)
    return np.stack([_to_uint8(image + _grain(rng, image.shape)) for _ in range(count)])


def dark(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A night scene: luma mostly 10 to 50, a soft lamp glow drifting across dim texture."""
    rng = np.random.default_rng(seed)
    texture_ = _fractal(rng, height, width, 2.0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        cx, cy = width * (0.3 + 0.01 * t), height * 0.4
        glow = 0.18 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (0.2 * width) ** 2))
        base = 0.07 + 0.025 * texture_ + glow
        image = np.stack([base * 0.9, base, base * 1.3], axis=-1)
        frames[t] = _to_uint8(image + _grain(rng, image.shape, 0.003))
    return frames


def bright(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A high-key beach or snow shot: luma 180 to 250, soft clouds drifting, little texture."""
    rng = np.random.default_rng(seed)
    clouds = _fractal(rng, height, 2 * width, 2.4)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        sky = 0.86 + 0.04 * clouds[:, 2 * t : 2 * t + width] - 0.06 * y
        image = np.stack([sky * 0.97, sky * 0.99, np.minimum(sky * 1.05, 1.0)], axis=-1)
        frames[t] = _to_uint8(image + _grain(rng, image.shape, 0.003))
    return frames


def fast(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Fast motion: a camera panning 12 pixels a frame over a textured scene, with motion blur."""
    rng = np.random.default_rng(seed)
    pan = 12
    scene = _fractal(rng, height, width + pan * count + 8, 1.7)
    colour = _fractal(rng, height, width + pan * count + 8, 2.5)
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        window = slice(pan * t, pan * t + width)
        blurred = sum(scene[:, pan * t + k : pan * t + k + width] for k in range(0, 8, 2)) / 4
        base = 0.5 + 0.15 * blurred
        image = np.stack([base + 0.05 * colour[:, window], base, base - 0.05 * colour[:, window]], axis=-1)
        frames[t] = _to_uint8(image)
    return frames


def skin(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A talking head: a softly shaded skin-toned face that sways, before a blurred backdrop."""
    rng = np.random.default_rng(seed)
    backdrop = _fractal(rng, height, width, 2.8)
    pores = _fractal(rng, height, width, 1.2)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        cx, cy = width * (0.5 + 0.03 * np.sin(t / 6)), height * (0.52 + 0.01 * np.cos(t / 5))
        r = ((x - cx) / (0.22 * width)) ** 2 + ((y - cy) / (0.38 * height)) ** 2
        face = np.clip(1 - r, 0, 1)
        shade = 0.55 + 0.3 * np.sqrt(face) - 0.1 * (x - cx) / width
        skin_rgb = np.stack([shade * 0.96, shade * 0.72, shade * 0.58], axis=-1) + 0.008 * pores[..., None]
        back = np.stack([0.3 + 0.05 * backdrop, 0.28 + 0.05 * backdrop, 0.25 + 0.04 * backdrop], axis=-1)
        inside = (face > 0)[..., None]
        frames[t] = _to_uint8(np.where(inside, skin_rgb, back))
    return frames


def smoke(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smoke like the smoke model's renders look when trained: grey wisps rising and turning."""
    rng = np.random.default_rng(seed)
    large = _fractal(rng, height + 3 * count, width, 2.2)
    fine = _fractal(rng, height + 3 * count, width, 1.5)
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        rows = slice(3 * (count - t - 1), 3 * (count - t - 1) + height)
        density = np.clip(0.5 + 0.35 * large[rows] + 0.1 * fine[rows] * (1 + np.sin(t / 4)), 0, 1)
        image = 0.12 + 0.6 * density[..., None] * np.array([0.92, 0.94, 1.0], dtype=np.float32)
        frames[t] = _to_uint8(image)
    return frames


CONTENTS = {
    "gradient": gradient,
    "texture": texture,
    "dark": dark,
    "bright": bright,
    "fast": fast,
    "skin": skin,
    "smoke": smoke,
}
SMOOTH = ("gradient", "skin", "bright")  # the contents the PSNR target is judged on
