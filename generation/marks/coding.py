"""What every version of the invisible mark shares: the payload's CRC and its convolutional code
(rate 1/2, constraint length 7) with a soft Viterbi decoder, and small picture helpers."""

from __future__ import annotations

import binascii
from functools import cache

import numpy as np

CODE_BITS = 32
CRC_BITS = 16
PAYLOAD_BITS = CODE_BITS + CRC_BITS
CONV_POLYNOMIALS = (0o171, 0o133)  # the NASA K=7 rate-1/2 code
CONV_MEMORY = 6  # constraint length - 1: the zero tail that closes the trellis
CODED_BITS = 2 * (PAYLOAD_BITS + CONV_MEMORY)


def crc16(code: int) -> int:
    return binascii.crc_hqx(code.to_bytes(4, "big"), 0xFFFF)


def payload(code: int, whitening: np.ndarray) -> np.ndarray:
    if not 0 <= code < 2**CODE_BITS:
        raise ValueError(f"A mark code is a {CODE_BITS}-bit unsigned integer, got {code}.")
    value = (code << CRC_BITS) | crc16(code)
    bits = np.array([(value >> (PAYLOAD_BITS - 1 - i)) & 1 for i in range(PAYLOAD_BITS)], dtype=bool)
    return bits ^ whitening


def code_from(bits: np.ndarray, whitening: np.ndarray) -> tuple[int, bool]:
    bits = bits ^ whitening
    value = int("".join("1" if bit else "0" for bit in bits), 2)
    code, crc = value >> CRC_BITS, value & (2**CRC_BITS - 1)
    return code, crc16(code) == crc


def _parity(values: np.ndarray) -> np.ndarray:
    values = values.copy()
    odd = np.zeros(values.shape, dtype=bool)
    while values.any():
        odd ^= (values & 1).astype(bool)
        values >>= 1
    return odd


@cache
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """For every next state: its two predecessor states, and the +-1 outputs of each transition."""
    states = np.arange(2**CONV_MEMORY)
    predecessors = np.stack([states >> 1, (states >> 1) | 2 ** (CONV_MEMORY - 1)])
    register = (predecessors << 1) | (states & 1)
    outputs = np.stack([np.where(_parity(register & poly), 1.0, -1.0) for poly in CONV_POLYNOMIALS])
    return predecessors, outputs


def convolve(bits: np.ndarray) -> np.ndarray:
    """The coded bits for ``bits``, a zero tail closing the trellis."""
    register, coded = 0, []
    for bit in [*bits.tolist(), *[False] * CONV_MEMORY]:
        register = ((register << 1) | int(bit)) & (2 ** (CONV_MEMORY + 1) - 1)
        coded += [bin(register & poly).count("1") % 2 == 1 for poly in CONV_POLYNOMIALS]
    return np.array(coded, dtype=bool)


def viterbi(soft: np.ndarray) -> np.ndarray:
    """The payload bits whose coded form best matches ``soft`` (positive: a 1 was sent)."""
    predecessors, outputs = _trellis()
    states = np.arange(2**CONV_MEMORY)
    metric = np.full(states.size, -np.inf)
    metric[0] = 0.0
    steps = soft.size // 2
    choices = np.empty((steps, states.size), dtype=np.int8)
    for step in range(steps):
        candidates = metric[predecessors] + outputs[0] * soft[2 * step] + outputs[1] * soft[2 * step + 1]
        choices[step] = candidates.argmax(axis=0)
        metric = candidates[choices[step], states]
    state, bits = 0, []
    for step in range(steps - 1, -1, -1):
        bits.append(bool(state & 1))
        state = predecessors[choices[step, state], state]
    return np.array(bits[::-1][:PAYLOAD_BITS], dtype=bool)


def box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, edges clamped, from cumulative sums."""
    padded = np.pad(image, radius + 1, mode="edge").astype(np.float64)
    summed = padded.cumsum(0).cumsum(1)
    size = 2 * radius + 1
    window = summed[size:, size:] - summed[:-size, size:] - summed[size:, :-size] + summed[:-size, :-size]
    return (window / size**2)[: image.shape[0], : image.shape[1]].astype(np.float32)


def peak_score(surface: np.ndarray, peak: int) -> float:
    """How far the value at ``peak`` stands above the surface, in the surface's standard deviations."""
    return float((surface.flat[peak] - surface.mean()) / max(float(surface.std()), 1e-12))


def rescale(image: np.ndarray, factor_y: float, factor_x: float) -> np.ndarray:
    """``image`` resized by the two factors (bicubic); the same array when both are 1."""
    if factor_y == 1.0 and factor_x == 1.0:
        return image
    from PIL import Image

    height, width = image.shape
    size = (max(1, round(width * factor_x)), max(1, round(height * factor_y)))
    return np.asarray(Image.fromarray(image, mode="F").resize(size, Image.Resampling.BICUBIC))


SEPARABLE_FROM = 200_000  # pixels: a smaller picture is folded in one step, a larger one in two


def spectrum_bins(
    sync_bins: np.ndarray, data_bins: np.ndarray, tile: int, grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A tile's sync and data bins (flat indices into its tile x tile spectrum) as flat indices into a
    grid x grid spectrum, and the data bins' signed frequencies (ky, kx)."""

    def signed(flat):
        ky, kx = divmod(flat, tile)
        return np.where(ky >= tile // 2, ky - tile, ky), np.where(kx >= tile // 2, kx - tile, kx)

    sync_y, sync_x = signed(sync_bins)
    data_y, data_x = signed(data_bins)
    return (sync_y % grid) * grid + sync_x % grid, (data_y % grid) * grid + data_x % grid, data_y, data_x


def lattice_fold(
    detail: np.ndarray, period_y: float, period_x: float, grid: int, flipped: bool = False, columns: dict | None = None
) -> np.ndarray:
    """Average the picture's pixels onto one tile, sampled on a grid x grid lattice, for a tile that
    repeats every ``period_y`` by ``period_x`` pixels: each pixel falls in the lattice cell where its
    position within the tile puts it. No resampling of the picture, so any period costs the same.
    A large picture is folded in two steps: its columns summed into their cells, then its rows;
    ``columns`` (a dict kept for one picture) keeps the first step for folds that share the period
    along x."""
    height, width = detail.shape
    rows = (np.arange(height) / period_y % 1.0 * grid).astype(np.int64) % grid
    if height * width < SEPARABLE_FROM:
        cols = (np.arange(width) / period_x % 1.0 * grid).astype(np.int64) % grid
        cols = (grid - 1 - cols) % grid if flipped else cols
        cells = (rows[:, None] * grid + cols[None, :]).ravel()
        total = np.bincount(cells, weights=detail.ravel(), minlength=grid * grid)
        count = np.bincount(cells, minlength=grid * grid)
        return (total / np.maximum(count, 1)).reshape(grid, grid)
    key = (period_x, grid, flipped)
    if columns is None or key not in columns:
        cols = (np.arange(width) / period_x % 1.0 * grid).astype(np.int64) % grid
        if flipped:
            cols = (grid - 1 - cols) % grid
        summed = (_cell_sums(detail, cols, grid, axis=1), np.bincount(cols, minlength=grid))
        if columns is None:
            columns = {}
        columns[key] = summed
    by_columns, col_count = columns[key]
    total = _cell_sums(by_columns, rows, grid, axis=0)
    return total / np.maximum(np.outer(np.bincount(rows, minlength=grid), col_count), 1)


def _cell_sums(values: np.ndarray, cells: np.ndarray, grid: int, axis: int) -> np.ndarray:
    """``values`` summed along ``axis`` into ``grid`` cells, ``cells`` giving each index's cell."""
    order = np.argsort(cells, kind="stable")
    used, starts = np.unique(cells[order], return_index=True)
    sums = np.add.reduceat(np.take(values, order, axis=axis), starts, axis=axis, dtype=np.float64)
    shape = list(values.shape)
    shape[axis] = grid
    out = np.zeros(shape)
    if axis == 0:
        out[used] = sums
    else:
        out[:, used] = sums
    return out


def subpixel_peak(surface: np.ndarray, peak: int) -> tuple[float, float]:
    """The peak of a cyclic correlation surface, to a fraction of a cell (a parabola through each axis)."""
    grid = surface.shape[0]
    y, x = divmod(peak, grid)
    offsets = []
    for values in (surface[[(y - 1) % grid, y, (y + 1) % grid], x], surface[y, [(x - 1) % grid, x, (x + 1) % grid]]):
        curvature = values[0] - 2 * values[1] + values[2]
        offsets.append(0.5 * (values[0] - values[2]) / curvature if curvature < 0 else 0.0)
    return y + offsets[0], x + offsets[1]
