"""Version 1 of the invisible mark (every clip rendered before version 2 carries it). Unchanged since
it shipped: its constants fix the pattern, so changing one would make those clips untraceable.

One TILE x TILE luma pattern, repeated across every frame: a sync part, always the same, and a data
part that carries the job's 32-bit mark code plus a CRC-16, convolutionally coded so that a soft
Viterbi decoder corrects what compression spoils. Both parts are sums of mid-frequency sinusoids
(periods of 12 to 43 pixels) with fixed pseudo-random phases, each frequency bin owned by the sync or
by one coded bit, so the parts never interfere.

Reading averages the frames, removes the local mean, folds every tile of the picture onto one, and
finds the cyclic shift that a crop caused by phase correlation with the sync part. Rescaled copies are
tried at a few common scales, each folded at its scaled period on a lattice (no resampling; a change
of the reader only, 2026-12-07: the pattern is the one that shipped). A code is returned only when the
sync peak stands out, the decoded bits pass the CRC, and the whole pattern those bits imply correlates
with the picture far above what the decoder can find in unmarked video.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from generation.marks import coding
from generation.marks.coding import CODED_BITS, PAYLOAD_BITS
from generation.marks.reading import Reading

VERSION = 1
TILE = 128
BAND = (3.0, 11.0)  # cycles per tile
SYNC_SHARE = 0.25
PATTERN_SEED = 0x6261636B6C6F74  # "backlot"
STRENGTH = 2.8  # luma RMS of the pattern, in 8-bit levels (PSNR about 39 dB)
# A rescaled copy is tried at each of these scales (its size / the rendered size).
SCALES = (1.0, 0.5, 0.75, 2 / 3, 0.9, 0.8, 0.625, 0.5625, 1.25, 1.5, 2.0)
# Peak heights in standard deviations of a correlation surface over all 128 x 128 shifts. The sync
# peak only nominates a shift to decode (unmarked pictures reach 4.9; damaged marked clips 6.1 to 10).
# The confirmation is the whole decoded pattern's peak: the decoder picks the data signs that fit best,
# so unmarked pictures reach 9.2 (300 noise, smooth and blocky pictures), while marked clips re-encoded
# at CRF 35, halved or cropped read at 12.9 or more (240 trials of a small 256 x 256 clip).
SYNC_THRESHOLD = 4.5
CONFIRM_THRESHOLD = 11.0
DETAIL_RADIUS = 8  # the local mean taken off before folding, in pixels of the marked frame


@dataclass(frozen=True)
class Layout:
    sync_bins: np.ndarray  # flat indices into a TILE x TILE spectrum (one half-plane)
    sync_phases: np.ndarray  # unit complex numbers
    data_bins: np.ndarray
    data_phases: np.ndarray
    data_owner: np.ndarray  # which coded bit each data bin carries
    mirror: np.ndarray  # flat index of -k for every flat index k
    whitening: np.ndarray  # a fixed bit mask XORed into the payload


def layout_for(tile: int, band: tuple[float, float], sync_share: float, seed: int) -> Layout:
    freqs = np.fft.fftfreq(tile, 1.0 / tile)
    ky, kx = np.meshgrid(freqs, freqs, indexing="ij")
    radius = np.hypot(ky, kx)
    half_plane = (kx > 0) | ((kx == 0) & (ky > 0))
    bins = np.flatnonzero(half_plane & (radius >= band[0]) & (radius <= band[1]))
    rng = np.random.default_rng(seed)
    rng.shuffle(bins)
    phases = np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, bins.size))
    sync_count = int(bins.size * sync_share)
    data_count = bins.size - sync_count
    assert data_count >= CODED_BITS, "every coded bit needs a frequency bin"
    mirror = ((-ky % tile) * tile + (-kx % tile)).astype(np.int64).ravel()
    return Layout(
        sync_bins=bins[:sync_count],
        sync_phases=phases[:sync_count],
        data_bins=bins[sync_count : sync_count + data_count],
        data_phases=phases[sync_count : sync_count + data_count],
        data_owner=np.arange(data_count) % CODED_BITS,
        mirror=mirror,
        whitening=rng.integers(0, 2, PAYLOAD_BITS).astype(bool),
    )


@cache
def _layout() -> Layout:
    return layout_for(TILE, BAND, SYNC_SHARE, PATTERN_SEED)


def data_signs(layout: Layout, code: int) -> np.ndarray:
    """+1 or -1 for every data bin: the coded bit it carries."""
    return np.where(coding.convolve(coding.payload(code, layout.whitening)), 1.0, -1.0)[layout.data_owner]


def pattern(layout: Layout, tile: int, code: int) -> np.ndarray:
    """The tile x tile float32 luma pattern for ``code``, at unit RMS."""
    spectrum = np.zeros(tile * tile, dtype=np.complex128)
    spectrum[layout.sync_bins] = layout.sync_phases
    spectrum[layout.data_bins] = layout.data_phases * data_signs(layout, code)
    used = np.concatenate([layout.sync_bins, layout.data_bins])
    spectrum[layout.mirror[used]] = np.conj(spectrum[used])
    values = np.fft.ifft2(spectrum.reshape(tile, tile)).real
    return (values / values.std()).astype(np.float32)


@cache
def tile_for(code: int) -> np.ndarray:
    return pattern(_layout(), TILE, code)


def delta_for(code: int, height: int, width: int, image: np.ndarray | None = None) -> np.ndarray:
    """The int16 luma offset for a height x width frame (``image``, the clip's look, plays no part in v1)."""
    reps = (-(-height // TILE), -(-width // TILE))
    return np.rint(np.tile(tile_for(code), reps)[:height, :width] * STRENGTH).astype(np.int16)


def correlate(spectrum: np.ndarray, tile: int, bins: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Correlation of the picture with the pattern ``phases`` at ``bins``, for every cyclic shift."""
    correlation = np.zeros(tile * tile, dtype=np.complex128)
    correlation[bins] = spectrum[bins] * np.conj(phases)
    return np.fft.ifft2(correlation.reshape(tile, tile)).real


def read(image: np.ndarray):
    """The v1 reading of a mean-luma picture, trying each scale in SCALES."""
    image = np.asarray(image, dtype=np.float32)
    height, width = image.shape
    details: dict[int, np.ndarray] = {}
    best = Reading(code=None, sync_score=0.0, scale=1.0, crc_ok=False, version=VERSION)
    for scale in SCALES:
        if min(round(width / scale), round(height / scale)) < TILE // 2:
            continue
        # The picture's detail at its own size, folded at the scaled period (no resampling).
        radius = detail_radius(scale)
        if radius not in details:
            details[radius] = image - coding.box_blur(image, radius)
        period = TILE * scale
        grid = TILE if period >= TILE else TILE // 2
        reading = _read_folded(coding.lattice_fold(details[radius], period, period, grid), scale)
        if reading.found:
            return reading
        if reading.sync_score > best.sync_score:
            best = reading
    return best


def detail_radius(scale: float) -> int:
    """DETAIL_RADIUS pixels of the marked frame at the copy's scale, in a few steps (each radius taken
    costs a blur of the whole picture)."""
    return max(DETAIL_RADIUS // 2, DETAIL_RADIUS * round(2 * scale) // 2)


@cache
def _bins(grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The layout's sync and data bins as flat indices into a grid x grid spectrum, and the data bins'
    signed frequencies (ky, kx)."""
    layout = _layout()
    return coding.spectrum_bins(layout.sync_bins, layout.data_bins, TILE, grid)


def _read_folded(folded: np.ndarray, scale: float):
    layout = _layout()
    grid = folded.shape[0]
    sync_bins, data_bins, data_y, data_x = _bins(grid)
    spectrum = np.fft.fft2(folded).ravel()
    # Phase only: content is loud at some frequencies and quiet at others; the mark is equally loud at all.
    spectrum = spectrum / np.maximum(np.abs(spectrum), 1e-9)
    surface = correlate(spectrum, grid, sync_bins, layout.sync_phases)
    peak = int(surface.argmax())
    score = coding.peak_score(surface, peak)
    if score < SYNC_THRESHOLD:
        return Reading(code=None, sync_score=score, scale=scale, crc_ok=False, version=VERSION)
    # At the marked size a crop shifts the tile by whole pixels; a scaled copy's shift falls between cells.
    shift_y, shift_x = divmod(peak, grid) if scale == 1.0 else coding.subpixel_peak(surface, peak)
    rotation = np.exp(2j * np.pi * (data_y * shift_y + data_x * shift_x) / grid)
    votes = (spectrum[data_bins] * np.conj(layout.data_phases) * rotation).real
    soft = np.bincount(layout.data_owner, weights=votes, minlength=CODED_BITS)
    code, crc_ok = coding.code_from(coding.viterbi(soft), layout.whitening)
    if not crc_ok:
        return Reading(code=None, sync_score=score, scale=scale, crc_ok=False, version=VERSION)
    whole = correlate(
        spectrum,
        grid,
        np.concatenate([sync_bins, data_bins]),
        np.concatenate([layout.sync_phases, layout.data_phases * data_signs(layout, code)]),
    )
    confirm = coding.peak_score(whole, peak)
    return Reading(
        code=code if confirm >= CONFIRM_THRESHOLD else None,
        sync_score=score,
        scale=scale,
        crc_ok=True,
        confirm_score=confirm,
        version=VERSION,
    )
