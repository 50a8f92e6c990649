"""Version 2 of the invisible mark: the v1 scheme (a tiled sync + convolutionally coded payload, read
from the frames' mean luma, returned only when sync, CRC and confirmation agree), rebuilt for what
leakers do.

- A 256-pixel tile whose energy sits at 3 to 13 cycles per tile (periods of 20 to 85 pixels): still
  periods of 5 pixels or more after a downscale to a quarter, and low enough to outlive 300 kbit/s.
- Perceptual strength: weak on flat, still areas (PSNR above 42 dB on smooth footage; dithered, so
  rounding leaves grain, not contours), stronger where the picture's own texture or motion hides it
  (and where an encoder predicting moving blocks would drag a weak static mark along). One strength
  map per clip (from a few of its frames), so the mark stays the same in every frame and averaging
  frames still cancels the content, not the mark. Strength is the marker's choice alone: the reader
  reads clips marked at any strength.
- Any scale, independently in x and y: the reader measures the tile's period along each axis from the
  autocorrelation of the picture's detail (a repeated pattern correlates with itself one period away),
  refines it on the further multiples, and folds the picture at that period. Letterbox bars are cut
  off first, and streaks along an axis (a pan, rising smoke) are left out of that axis's measure.
  Then each well-measured axis with the other at a common aspect change, half of each measured
  period, corrections of a percent or two to the best pairs, and uniform scales from a short list,
  for pictures too small or too streaked to show a period twice. Each is read as it is and mirrored
  (a horizontal flip: the same fold, columns reversed).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from generation.marks import coding, v1
from generation.marks.coding import CODED_BITS
from generation.marks.reading import Reading

VERSION = 2
TILE = 256
BAND = (3.0, 13.0)  # cycles per tile
SYNC_SHARE = 0.3
PATTERN_SEED = 0x6261636B6C6F7432  # "backlot2"
# The mark's luma amplitude (RMS of the unit pattern times this) is STRENGTH_FLAT on flat areas and
# grows with the local contrast, up to STRENGTH_MAX in texture.
STRENGTH_FLAT = 1.4
TEXTURE_GAIN = 0.2
STRENGTH_MAX = 5.0
DITHER_SEED = 0x64697468  # "dith"
MOTION_GAIN = 0.08  # per level of mean change between looks
MASK_RADIUS = 6
# Uniform scales tried when the period cannot be measured, in this order.
SCALES = (1.0, 0.5, 0.75, 2 / 3, 0.5625, 0.8, 0.9, 0.625, 0.375, 0.25, 1.25, 1.5)
MIN_PERIOD, MAX_PERIOD = 44.0, 400.0  # pixels: scales of 0.17 to 1.56
# Aspect changes tried on a well-measured axis (scale_x / scale_y): 16:9 squeezed to 4:3 or 1:1, and back.
ASPECTS = (0.75, 4 / 3, 0.5625, 16 / 9)
REFINED = 6  # measured pairs corrected by each of REFINEMENTS
REFINEMENTS = (1.0075, 0.9925, 1.015, 0.985, 1.0225, 0.9775)
BAR_RANGE = 4.0  # luma levels: a border row or column that varies less is a letterbox's bar
BAR_RINGING = 0.2  # a bar's edge rows that vary less than this share of the picture's rows are its ringing
RINGING_ROWS = 4  # at most this many of them on each side
# Around a hypothesis whose sync passes and whose CRC fails: scale corrections of 0.25 and 0.5 % on
# each axis, nearest first; for at most NUDGED_CENTRES such hypotheses per reading.
NUDGES = sorted(
    ((1 + 0.0025 * i, 1 + 0.0025 * j) for i in range(-2, 3) for j in range(-2, 3) if i or j),
    key=lambda factors: abs(factors[0] - 1) + abs(factors[1] - 1),
)
NUDGED_CENTRES = 2
NUDGE_SYNC = 6.0  # the sync that earns nudges: above what unmarked pictures reach (4.5 to 5.5), below marked ones
MOST_NUDGES = NUDGED_CENTRES * len(NUDGES)  # refinements one reading can try, for the false-positive bound
STREAK_FREQUENCY = 0.004  # cycles per pixel: below it, along an axis, the autocorrelation ignores the picture
SYNC_THRESHOLD = 4.5
CONFIRM_THRESHOLD = 11.0


@cache
def _layout() -> v1.Layout:
    return v1.layout_for(TILE, BAND, SYNC_SHARE, PATTERN_SEED)


@cache
def tile_for(code: int) -> np.ndarray:
    return v1.pattern(_layout(), TILE, code)


def _local_std(image: np.ndarray, radius: int) -> np.ndarray:
    mean = coding.box_blur(image, radius)
    return np.sqrt(np.maximum(coding.box_blur(image * image, radius) - mean * mean, 0.0))


def strength_map(looks: np.ndarray) -> np.ndarray:
    """The mark's amplitude at every pixel of a clip, from the luma of a few of its frames
    (n, H, W): their mean local contrast, so texture that moves masks the mark as still texture does,
    and how much they change from one look to the next: motion masks the mark too, and an encoder
    that predicts moving blocks from the previous frame drags a weak static mark along with them."""
    looks = np.asarray(looks, dtype=np.float32)
    looks = looks[None] if looks.ndim == 2 else looks
    height, width = looks.shape[1:]
    # At half resolution: the map is smooth, and marking must stay cheap.
    halves = looks[:, : height // 2 * 2, : width // 2 * 2].reshape(len(looks), height // 2, 2, width // 2, 2)
    halves = halves.mean(axis=(2, 4))
    texture = sum(_local_std(half, MASK_RADIUS // 2) for half in halves) / len(halves)
    strength = STRENGTH_FLAT + TEXTURE_GAIN * texture
    if len(halves) > 1:
        motion = np.abs(np.diff(halves, axis=0)).mean(axis=0)
        strength += MOTION_GAIN * coding.box_blur(motion, 2 * MASK_RADIUS)
    amplitude = coding.box_blur(np.minimum(strength, STRENGTH_MAX), MASK_RADIUS // 2)
    amplitude = amplitude.repeat(2, axis=0).repeat(2, axis=1)
    return np.pad(amplitude, ((0, height - amplitude.shape[0]), (0, width - amplitude.shape[1])), mode="edge")


def delta_for(code: int, height: int, width: int, looks: np.ndarray | None = None) -> np.ndarray:
    """The int16 luma offset for a height x width frame of a clip, some of whose frames' luma is ``looks``."""
    reps = (-(-height // TILE), -(-width // TILE))
    pattern = np.tile(tile_for(code), reps)[:height, :width]
    amplitude = STRENGTH_FLAT if looks is None else strength_map(looks)
    # Rounded with a fixed dither: on a flat picture plain rounding turns the weak, smooth pattern into
    # contour lines; dithered, the error is a fine grain and the mean offset is the pattern itself.
    dither = np.random.default_rng(DITHER_SEED).random((height, width), dtype=np.float32) - np.float32(0.5)
    return np.rint(pattern * amplitude + dither).astype(np.int16)


def _detail(image: np.ndarray) -> np.ndarray:
    """The picture less its local mean, divided by its local contrast: the same for any brightness,
    contrast or gamma, and no region outweighs the others; less its row and column means."""
    detail = image - coding.box_blur(image, 12)
    detail /= np.sqrt(np.maximum(coding.box_blur(detail * detail, 12), 0.0)) + 1.0
    # Streaks along a row or a column (what a pan leaves in the mean of its frames) repeat at every
    # lag along that axis; the mark has next to nothing there.
    detail -= detail.mean(axis=1, keepdims=True)
    detail -= detail.mean(axis=0, keepdims=True)
    return detail


def _lag_peaks(profile: np.ndarray, low: int, high: int, count: int = 3) -> list[tuple[float, float]]:
    """The ``count`` highest local maxima of ``profile`` between lags low and high, as (lag, score).
    A lag whose half, third or quarter peaks too is the harmonic of a shorter repetition (the motion
    of a steady pan leaves one in the mean of the frames), not the tile, which repeats nothing shorter."""
    high = min(high, profile.size - 2)
    if high - low < 8:
        return []
    # The overlap shrinks with the lag: compare lags per pixel of overlap.
    profile = profile / np.maximum(profile.size - np.arange(profile.size), 1)
    window = profile[low : high + 1]
    mean, spread = float(window.mean()), float(window.std()) or 1.0
    is_peak = (window[1:-1] > window[:-2]) & (window[1:-1] >= window[2:])
    lags = np.flatnonzero(is_peak) + low + 1
    lags = lags[np.argsort(profile[lags])[::-1]]
    found = []
    for lag in lags:
        score = (profile[lag] - mean) / spread
        fractions = [lag / k for k in (2, 3, 4) if lag / k >= 6]
        if any((profile[round(f) - 1 : round(f) + 2].max() - mean) / spread > max(3.0, 0.8 * score) for f in fractions):
            continue
        found.append((_refine(profile, int(lag)), float(score)))
        if len(found) == count:
            break
    return found


def _subpixel(profile: np.ndarray, lag: int) -> float:
    left, centre, right = profile[lag - 1], profile[lag], profile[lag + 1]
    curvature = left - 2 * centre + right
    return lag + (0.5 * (left - right) / curvature if curvature < 0 else 0.0)


def _refine(profile: np.ndarray, lag: int) -> float:
    """The period from the peaks at every multiple of ``lag`` that the profile reaches (least squares)."""
    period, weights, total = _subpixel(profile, lag), 1.0, _subpixel(profile, lag)
    for multiple in range(2, 8):
        guess = round(period * multiple)
        if not 2 <= guess < profile.size * 0.8 - 3:
            break
        near = guess - 2 + int(np.argmax(profile[guess - 2 : guess + 3]))
        total += multiple * _subpixel(profile, near)
        weights += multiple * multiple
        period = total / weights
    return period


def axis_periods(detail: np.ndarray) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Candidate periods along y and along x, each as (pixels, score), best first."""
    height, width = detail.shape
    # The magnitude, not the power: half-whitened, so the content's own broad correlation shrinks
    # and the mark's repetition (a sharp peak one period away) stands out.
    magnitude = np.abs(np.fft.rfft2(detail, s=(2 * height, 2 * width)))
    # Streaks along one axis (what a pan or rising smoke leaves in the mean of the frames) carry
    # their energy at frequencies near zero along that axis; the mark has next to none there.
    # Only the lags along each axis are needed: the 2-D inverse transform's column at dx = 0 is the 1-D
    # inverse of the spectrum summed over x (each inner column counted twice, for its mirror), and its
    # row at dy = 0 the 1-D inverse of the spectrum summed over y.
    fy = np.abs(np.fft.fftfreq(2 * height))
    fx = np.fft.rfftfreq(2 * width)
    twice = np.where((fx > 0) & (fx < 0.5), 2.0, 1.0) * (fx >= STREAK_FREQUENCY)
    along_y = np.fft.ifft(magnitude @ twice).real
    along_x = np.fft.irfft(magnitude[fy >= STREAK_FREQUENCY].sum(axis=0), n=2 * width)
    rows = _lag_peaks(along_y[:height], int(MIN_PERIOD), int(MAX_PERIOD))
    cols = _lag_peaks(along_x[:width], int(MIN_PERIOD), int(MAX_PERIOD))
    return rows, cols


def periods(detail: np.ndarray) -> list[tuple[float, float]]:
    """Candidate tile periods (y, x) in pixels, best first, from the detail's autocorrelation."""
    return _pairs(*axis_periods(detail))


def _pairs(rows, cols) -> list[tuple[float, float]]:
    pairs = [(py, px, sy + sx) for py, sy in rows for px, sx in cols]
    # A side that shows the period less than twice gives no peak: assume the same scale as the other.
    pairs += [(px, px, sx) for px, sx in cols] + [(py, py, sy) for py, sy in rows]
    pairs.sort(key=lambda pair: -pair[2])
    return [(py, px) for py, px, _ in pairs]


def fold(
    detail: np.ndarray, period_y: float, period_x: float, flipped: bool = False, columns: dict | None = None
) -> np.ndarray:
    """Average the picture's pixels onto one tile, sampled on a lattice of ``_grid`` cells a side, for
    a tile that repeats every ``period_y`` by ``period_x`` pixels (``coding.lattice_fold``)."""
    return coding.lattice_fold(detail, period_y, period_x, _grid(min(period_y, period_x)), flipped, columns)


def _grid(period: float) -> int:
    """Lattice cells per tile side: a cell no wider than a pixel where the period allows, as where it
    does not, since a pixel's position is rounded to its cell and coarse cells blur the mark's highest
    frequencies (13 cycles per tile: 64 cells keep 94 % of them, 32 cells 76 %)."""
    return 128 if period >= 128 else 64


@cache
def _bins(grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The layout's sync and data bins as flat indices into a grid x grid spectrum, and the data
    bins' signed frequencies (ky, kx)."""
    layout = _layout()

    def signed(flat):
        ky, kx = divmod(flat, TILE)
        return np.where(ky >= TILE // 2, ky - TILE, ky), np.where(kx >= TILE // 2, kx - TILE, kx)

    sync_y, sync_x = signed(layout.sync_bins)
    data_y, data_x = signed(layout.data_bins)
    return (sync_y % grid) * grid + sync_x % grid, (data_y % grid) * grid + data_x % grid, data_y, data_x


def _binned(detail: np.ndarray, factor: int) -> np.ndarray:
    """The detail averaged over factor x factor blocks: the mark's band sits far below the new Nyquist
    frequency, and folding a quarter or a sixteenth of the pixels is that much cheaper."""
    if factor == 1:
        return detail
    height, width = detail.shape[0] // factor * factor, detail.shape[1] // factor * factor
    return detail[:height, :width].reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))


def _candidates(detail: np.ndarray) -> list[tuple[float, float]]:
    """Scales (y, x) to try, best first: the measured periods; each well-measured axis with the other at
    a common aspect change (a side too short or too streaked to show its period); half of each
    measured period; small corrections of
    the best measured pairs (a period measured on few repetitions can be a percent or two off); then
    the uniform SCALES."""
    rows, cols = axis_periods(detail)
    measured = _pairs(rows, cols)
    candidates = [(py / TILE, px / TILE) for py, px in measured]
    for px, _ in cols[:2]:
        candidates += [(px / TILE / aspect, px / TILE) for aspect in ASPECTS]
    for py, _ in rows[:2]:
        candidates += [(py / TILE, py / TILE * aspect) for aspect in ASPECTS]
    # A side whose repetitions a letterbox bar or a streak breaks up can peak at twice the period.
    candidates += [(period / 2 / TILE, period / 2 / TILE) for period, _ in rows + cols]
    for scale_y, scale_x in candidates[:REFINED]:
        candidates += [(scale_y * factor, scale_x * factor) for factor in REFINEMENTS]
    return candidates + [(s, s) for s in SCALES]


def _unboxed(image: np.ndarray) -> np.ndarray:
    """The picture less the uniform bars that a letterbox or a pillarbox put around it: they carry no
    mark, and their edges repeat in the autocorrelation like a period. The encoder's ringing along a
    bar's edge (a few rows that vary by some levels, far less than the picture) goes with the bar."""
    spans = []
    for ranges in (np.ptp(image, axis=1), np.ptp(image, axis=0)):
        inside = np.flatnonzero(ranges > BAR_RANGE)
        if inside.size < 2:
            return image
        first, last = int(inside[0]), int(inside[-1])
        if first > 0 or last < ranges.size - 1:  # a bar: cut its ringing too
            faint = max(BAR_RANGE, BAR_RINGING * float(np.median(ranges[first : last + 1])))
            for _ in range(RINGING_ROWS):
                first += int(first < last and first > 0 and ranges[first] < faint)
            for _ in range(RINGING_ROWS):
                last -= int(last > first and last < ranges.size - 1 and ranges[last] < faint)
        spans.append((first, last))
    (top, bottom), (left, right) = spans
    return image[top : bottom + 1, left : right + 1]


class _Folds:
    """A mean-luma picture made ready to fold at any scale: its bars cut off, its detail taken, and
    that detail binned for the larger periods."""

    def __init__(self, image: np.ndarray):
        self.image = _unboxed(np.asarray(image, dtype=np.float32))
        self.detail = _detail(self.image)
        self.binned = {1: self.detail}
        self.columns: dict[int, dict] = {}  # per binning: the folds' first steps, by period along x

    def fits(self, scale_y: float, scale_x: float) -> bool:
        period_y, period_x = TILE * scale_y, TILE * scale_x
        height, width = self.image.shape
        if min(height / period_y, width / period_x) < 0.5 or min(period_y, period_x) < MIN_PERIOD * 0.7:
            return False
        return max(period_y, period_x) <= MAX_PERIOD * 1.1

    def fold(self, scale_y: float, scale_x: float) -> np.ndarray:
        period_y, period_x = TILE * scale_y, TILE * scale_x
        factor = next(f for f in (4, 2, 1) if min(period_y, period_x) / f >= 64 or f == 1)
        if factor not in self.binned:
            self.binned[factor] = _binned(self.detail, factor)
        columns = self.columns.setdefault(factor, {})
        return fold(self.binned[factor], period_y / factor, period_x / factor, columns=columns)

    def hypotheses(self):
        tried = []
        for scale_y, scale_x in _candidates(self.detail):
            if any(abs(scale_y / y - 1) < 0.003 and abs(scale_x / x - 1) < 0.003 for y, x in tried):
                continue
            tried.append((scale_y, scale_x))
            if not self.fits(scale_y, scale_x):
                continue
            folded = self.fold(scale_y, scale_x)
            yield scale_y, scale_x, False, folded
            # A mirrored picture folds onto the mirrored lattice: the same cells, columns reversed.
            yield scale_y, scale_x, True, folded[:, ::-1]

    def nudges(self, scale_y: float, scale_x: float, flipped: bool):
        """The hypotheses a hair's breadth around one whose sync passed and whose CRC failed: a period
        measured on two or three repetitions can be a few tenths of a percent off, and a small picture's
        bits decode only near its true scale."""
        for factor_y, factor_x in NUDGES:
            y, x = scale_y * factor_y, scale_x * factor_x
            if self.fits(y, x):
                folded = self.fold(y, x)
                yield y, x, flipped, folded[:, ::-1] if flipped else folded


def hypotheses(image: np.ndarray):
    """Every (scale_y, scale_x, flipped) the reader tries on a mean-luma picture, in order, each with
    its folded tile (less the refinements, which only a passing sync earns: see ``read``)."""
    return _Folds(image).hypotheses()


def read(image: np.ndarray):
    """The v2 reading of a mean-luma picture: the first hypothesis that passes all three checks, else
    the one whose sync came nearest. A hypothesis whose sync is clearly a mark's (NUDGE_SYNC) and
    whose CRC fails is refined (NUDGES around it) before the reader moves on, for the first
    NUDGED_CENTRES of them."""
    best = Reading(code=None, sync_score=0.0, scale=1.0, crc_ok=False, version=VERSION)
    folds = _Folds(image)
    centres = 0
    for scale_y, scale_x, flipped, folded in folds.hypotheses():
        reading = _read_tile(folded, scale_y, scale_x, flipped)
        if reading.found:
            return reading
        if reading.sync_score > best.sync_score:
            best = reading
        if reading.sync_score >= NUDGE_SYNC and centres < NUDGED_CENTRES:
            centres += 1
            for refined in folds.nudges(scale_y, scale_x, flipped):
                reading = _read_tile(refined[3], *refined[:3])
                if reading.found:
                    return reading
    return best


def _correlate(spectrum: np.ndarray, grid: int, bins: np.ndarray, phases: np.ndarray) -> np.ndarray:
    products = spectrum[bins] * np.conj(phases)
    size = grid * grid
    correlation = np.bincount(bins, products.real, size) + 1j * np.bincount(bins, products.imag, size)
    return np.fft.ifft2(correlation.reshape(grid, grid)).real


def _read_tile(folded: np.ndarray, scale_y: float, scale_x: float, flipped: bool, *, decode_always: bool = False):
    """The reading of one folded tile. ``decode_always`` decodes and confirms past a failed sync or CRC
    too (the code is still withheld), so the bench can measure what the checks see in unmarked video."""
    layout = _layout()
    grid = folded.shape[0]
    sync_bins, data_bins, data_y, data_x = _bins(grid)
    spectrum = np.fft.fft2(folded).ravel()
    spectrum = spectrum / np.maximum(np.abs(spectrum), 1e-9)
    surface = _correlate(spectrum, grid, sync_bins, layout.sync_phases)
    peak = int(surface.argmax())
    score = coding.peak_score(surface, peak)
    found = {
        "sync_score": score,
        "scale": float(scale_x),
        "scale_y": float(scale_y),
        "flipped": flipped,
        "version": VERSION,
    }
    if score < SYNC_THRESHOLD and not decode_always:
        return Reading(code=None, crc_ok=False, **found)
    shift_y, shift_x = coding.subpixel_peak(surface, peak)
    rotation = np.exp(2j * np.pi * (data_y * shift_y + data_x * shift_x) / grid)
    votes = (spectrum[data_bins] * np.conj(layout.data_phases) * rotation).real
    soft = np.bincount(layout.data_owner, weights=votes, minlength=CODED_BITS)
    code, crc_ok = coding.code_from(coding.viterbi(soft), layout.whitening)
    if not crc_ok and not decode_always:
        return Reading(code=None, crc_ok=False, **found)
    whole = _correlate(
        spectrum,
        grid,
        np.concatenate([sync_bins, data_bins]),
        np.concatenate([layout.sync_phases, layout.data_phases * v1.data_signs(layout, code)]),
    )
    confirm = coding.peak_score(whole, peak)
    accepted = score >= SYNC_THRESHOLD and crc_ok and confirm >= CONFIRM_THRESHOLD
    return Reading(code=code if accepted else None, crc_ok=crc_ok, confirm_score=confirm, **found)
