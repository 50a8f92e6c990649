"""The design that versions 2 and 3 of the invisible mark share (see v2.py for how it works), with
every number that fixes a version's pattern or reader as an attribute of ``TiledMark``: a version is an
instance with its own tile, band, seed and thresholds. Changing a shipped version's numbers would make
its clips untraceable; strengths are the marker's choice alone and may change."""

from __future__ import annotations

from functools import cache

import numpy as np

from generation.marks import coding, v1
from generation.marks.coding import CODED_BITS
from generation.marks.reading import Reading

BAR_RANGE = 4.0  # luma levels: a border row or column that varies less is a letterbox's bar
BAR_RINGING = 0.2  # a bar's edge rows that vary less than this share of the picture's rows are its ringing
RINGING_ROWS = 4  # at most this many of them on each side
# Around a hypothesis whose sync passes and whose CRC fails: scale corrections of 0.25 and 0.5 % on
# each axis, nearest first; for at most NUDGED_CENTRES such hypotheses per reading.
NUDGES = sorted(
    ((1 + 0.0025 * i, 1 + 0.0025 * j) for i in range(-2, 3) for j in range(-2, 3) if i or j),
    key=lambda factors: abs(factors[0] - 1) + abs(factors[1] - 1),
)
DITHER_SEED = 0x64697468  # "dith"


class TiledMark:
    """One version of the tiled mark. Subclasses (or instances) set the numbers."""

    VERSION: int
    TILE: int
    BAND: tuple[float, float]  # cycles per tile
    SYNC_SHARE: float
    PATTERN_SEED: int
    # The mark's luma amplitude (RMS of the unit pattern times this) is STRENGTH_FLAT on flat areas and
    # grows with the local contrast, up to STRENGTH_MAX in texture.
    STRENGTH_FLAT = 1.6
    TEXTURE_GAIN = 0.25  # per level of local contrast less its slope (0.2 per level with the slope: the same)
    STRENGTH_MAX = 5.0
    # Below CLEAN_TEXTURE (local contrast in levels less what a smooth slope explains, from the lower to the
    # upper figure) a picture has no grain at all, as a computer-drawn gradient, a blurred backdrop or a flat
    # title card: nothing masks the mark, and at STRENGTH_FLAT its blotches show, so where such a picture is
    # also still it falls to STRENGTH_CLEAN, where the dithered offsets are a sparse grain of single levels.
    # Footage (camera or rendered) has a level or so of grain, or moves, and keeps STRENGTH_FLAT.
    CLEAN_TEXTURE = (0.4, 0.8)
    STRENGTH_CLEAN = 0.35
    BOOST_MAX = 2.0
    MOTION_UNMASK = 1.0  # levels of mean change between looks that lift a clean picture to STRENGTH_FLAT
    MOTION_GAIN = 0.08  # per level of mean change between looks, where only looks are given
    SPEED_GAIN = 0.25  # per level of mean change from a look to the frame after it
    MASK_RADIUS = 6
    SCALES: tuple[float, ...]  # uniform scales tried when the period cannot be measured, in this order
    MIN_PERIOD: float  # pixels
    MAX_PERIOD: float
    # Aspect changes tried on a well-measured axis (scale_x / scale_y): 16:9 squeezed to 4:3 or 1:1, and back.
    ASPECTS = (0.75, 4 / 3, 0.5625, 16 / 9)
    REFINED = 6  # measured pairs corrected by each of REFINEMENTS
    REFINEMENTS = (1.0075, 0.9925, 1.015, 0.985, 1.0225, 0.9775)
    NUDGED_CENTRES = 2
    NUDGE_SYNC = 6.0  # the sync that earns nudges: above what unmarked pictures reach, below marked ones
    STREAK_FREQUENCY = 0.004  # cycles per pixel: below it, along an axis, the autocorrelation ignores the picture
    DETAIL_RADIUS = 12  # the local mean and contrast taken off before reading, in pixels
    SYNC_THRESHOLD = 4.5
    CONFIRM_THRESHOLD = 11.0
    READ_SIDE: int | None = None  # a larger picture is read in its centre this many pixels a side

    @property
    def MOST_NUDGES(self) -> int:  # noqa: N802 (a constant of the version, as the others)
        """Refinements one reading can try, for the false-positive bound."""
        return self.NUDGED_CENTRES * len(NUDGES)

    # --- The pattern and marking -----------------------------------------------------------------

    @cache  # noqa: B019 (instances are module-level singletons)
    def layout(self) -> v1.Layout:
        return v1.layout_for(self.TILE, self.BAND, self.SYNC_SHARE, self.PATTERN_SEED)

    @cache  # noqa: B019
    def tile_for(self, code: int) -> np.ndarray:
        return v1.pattern(self.layout(), self.TILE, code)

    def strength_map(self, looks: np.ndarray, following: np.ndarray | None = None) -> np.ndarray:
        """The mark's amplitude at every pixel of a clip, from the luma of a few of its frames
        (n, H, W) and, where given, of the frame after each (``following``): their mean local contrast
        less what a smooth slope of luminance explains, so texture that moves masks the mark as still
        texture does and a ramp masks nothing; how much the picture changes over the clip, which lifts a
        clean picture off the floor; and how fast it moves, frame to frame: motion masks the mark too, and
        an encoder that predicts moving blocks from the previous frame drags a weak static mark along with
        them. Without ``following`` the speed is taken from one look to the next."""
        looks = np.asarray(looks, dtype=np.float32)
        looks = looks[None] if looks.ndim == 2 else looks
        height, width = looks.shape[1:]
        halves = _halves(looks)  # at half resolution: the map is smooth, and marking must stay cheap
        texture = sum(_local_contrast(half, self.MASK_RADIUS // 2) for half in halves) / len(halves)
        low, high = self.CLEAN_TEXTURE
        grain = (texture - low) / (high - low)
        change = speed = np.zeros_like(texture)
        if len(halves) > 1:
            change = coding.box_blur(np.abs(np.diff(halves, axis=0)).mean(axis=0), 2 * self.MASK_RADIUS)
        if following is not None:
            step = np.abs(_halves(np.asarray(following, dtype=np.float32).reshape(looks.shape) - looks)).mean(axis=0)
            speed = coding.box_blur(step, 2 * self.MASK_RADIUS)
            gain = self.SPEED_GAIN
        else:
            speed, gain = change, self.MOTION_GAIN
        # A picture that changes masks the mark as grain does: only a clean and still one gets the floor.
        grain = np.clip(grain + change / self.MOTION_UNMASK, 0.0, 1.0)
        masking = self.TEXTURE_GAIN * texture + gain * speed
        strength = self.STRENGTH_CLEAN + (self.STRENGTH_FLAT - self.STRENGTH_CLEAN) * grain + masking
        # What the floor takes from the clean, still part of the picture goes where grain, texture or motion
        # hides it (by up to BOOST_MAX), so the reader finds about as much mark in the picture as before.
        unfloored = np.mean(np.minimum(self.STRENGTH_FLAT + masking, self.STRENGTH_MAX) ** 2)
        floored = np.minimum(strength, self.STRENGTH_MAX)
        hidden = np.mean(np.minimum(strength, self.STRENGTH_MAX) ** 2 * grain)
        if hidden > 0:
            missing = unfloored - np.mean(floored**2)
            boost = min(np.sqrt(1 + max(missing, 0.0) / hidden), self.BOOST_MAX)
            strength = strength * (1 + (boost - 1) * grain)
        amplitude = coding.box_blur(np.minimum(strength, self.STRENGTH_MAX), self.MASK_RADIUS // 2)
        amplitude = amplitude.repeat(2, axis=0).repeat(2, axis=1)
        return np.pad(amplitude, ((0, height - amplitude.shape[0]), (0, width - amplitude.shape[1])), mode="edge")

    def delta_for(
        self, code: int, height: int, width: int, looks: np.ndarray | None = None, following: np.ndarray | None = None
    ) -> np.ndarray:
        """The int16 luma offset for a height x width frame of a clip, some of whose frames' luma is ``looks``
        (and ``following``, the luma of the frame after each)."""
        reps = (-(-height // self.TILE), -(-width // self.TILE))
        pattern = np.tile(self.tile_for(code), reps)[:height, :width]
        amplitude = self.STRENGTH_FLAT if looks is None else self.strength_map(looks, following)
        # Rounded with a fixed dither: on a flat picture plain rounding turns the weak, smooth pattern into
        # contour lines; dithered, the error is a fine grain and the mean offset is the pattern itself.
        dither = np.random.default_rng(DITHER_SEED).random((height, width), dtype=np.float32) - np.float32(0.5)
        return np.rint(pattern * amplitude + dither).astype(np.int16)

    # --- Reading -----------------------------------------------------------------------------------

    def detail(self, image: np.ndarray) -> np.ndarray:
        """The picture less its local mean, divided by its local contrast: the same for any brightness,
        contrast or gamma, and no region outweighs the others; less its row and column means."""
        radius = self.DETAIL_RADIUS
        detail = image - coding.box_blur(image, radius)
        detail /= np.sqrt(np.maximum(coding.box_blur(detail * detail, radius), 0.0)) + 1.0
        # Streaks along a row or a column (what a pan leaves in the mean of its frames) repeat at every
        # lag along that axis; the mark has next to nothing there.
        detail -= detail.mean(axis=1, keepdims=True)
        detail -= detail.mean(axis=0, keepdims=True)
        return detail

    def axis_periods(self, detail: np.ndarray) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Candidate periods along y and along x, each as (pixels, score), best first."""
        height, width = detail.shape
        # The magnitude, not the power: half-whitened, so the content's own broad correlation shrinks
        # and the mark's repetition (a sharp peak one period away) stands out.
        magnitude = np.abs(np.fft.rfft2(detail, s=(2 * height, 2 * width)))
        # Streaks along one axis carry their energy at frequencies near zero along that axis. Only the
        # lags along each axis are needed: the 2-D inverse transform's column at dx = 0 is the 1-D inverse
        # of the spectrum summed over x (each inner column counted twice, for its mirror), and its row at
        # dy = 0 the 1-D inverse of the spectrum summed over y.
        fy = np.abs(np.fft.fftfreq(2 * height))
        fx = np.fft.rfftfreq(2 * width)
        twice = np.where((fx > 0) & (fx < 0.5), 2.0, 1.0) * (fx >= self.STREAK_FREQUENCY)
        along_y = np.fft.ifft(magnitude @ twice).real
        along_x = np.fft.irfft(magnitude[fy >= self.STREAK_FREQUENCY].sum(axis=0), n=2 * width)
        rows = _lag_peaks(along_y[:height], int(self.MIN_PERIOD), int(self.MAX_PERIOD))
        cols = _lag_peaks(along_x[:width], int(self.MIN_PERIOD), int(self.MAX_PERIOD))
        return rows, cols

    def grid(self, period: float) -> int:
        """Lattice cells per tile side: a cell no wider than a pixel where the period allows, as where it
        does not, since a pixel's position is rounded to its cell and coarse cells blur the mark's highest
        frequencies."""
        return self.TILE // 2 if period >= self.TILE // 2 else self.TILE // 4

    def fold(self, detail, period_y: float, period_x: float, flipped: bool = False, columns: dict | None = None):
        """Average the picture's pixels onto one tile, sampled on a lattice of ``grid`` cells a side, for
        a tile that repeats every ``period_y`` by ``period_x`` pixels (``coding.lattice_fold``)."""
        return coding.lattice_fold(detail, period_y, period_x, self.grid(min(period_y, period_x)), flipped, columns)

    @cache  # noqa: B019
    def bins(self, grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The layout's sync and data bins as flat indices into a grid x grid spectrum, and the data
        bins' signed frequencies (ky, kx)."""
        layout = self.layout()
        return coding.spectrum_bins(layout.sync_bins, layout.data_bins, self.TILE, grid)

    def candidates(self, detail: np.ndarray) -> list[tuple[float, float]]:
        """Scales (y, x) to try, best first: the measured periods; each well-measured axis with the other at
        a common aspect change (a side too short or too streaked to show its period); half of each
        measured period; small corrections of the best measured pairs (a period measured on few
        repetitions can be a percent or two off); then the uniform SCALES."""
        tile = self.TILE
        rows, cols = self.axis_periods(detail)
        measured = _pairs(rows, cols)
        candidates = [(py / tile, px / tile) for py, px in measured]
        for px, _ in cols[:2]:
            candidates += [(px / tile / aspect, px / tile) for aspect in self.ASPECTS]
        for py, _ in rows[:2]:
            candidates += [(py / tile, py / tile * aspect) for aspect in self.ASPECTS]
        # A side whose repetitions a letterbox bar or a streak breaks up can peak at twice the period.
        candidates += [(period / 2 / tile, period / 2 / tile) for period, _ in rows + cols]
        for scale_y, scale_x in candidates[: self.REFINED]:
            candidates += [(scale_y * factor, scale_x * factor) for factor in self.REFINEMENTS]
        return candidates + [(s, s) for s in self.SCALES]

    def hypotheses(self, image: np.ndarray):
        """Every (scale_y, scale_x, flipped) the reader tries on a mean-luma picture, in order, each with
        its folded tile (less the refinements, which only a passing sync earns: see ``read``)."""
        return _Folds(self, image).hypotheses()

    def read(self, image: np.ndarray) -> Reading:
        """The reading of a mean-luma picture: the first hypothesis that passes all three checks, else
        the one whose sync came nearest. A hypothesis whose sync is clearly a mark's (NUDGE_SYNC) and
        whose CRC fails is refined (NUDGES around it) before the reader moves on, for the first
        NUDGED_CENTRES of them."""
        best = Reading(code=None, sync_score=0.0, scale=1.0, crc_ok=False, version=self.VERSION)
        folds = _Folds(self, image)
        centres = 0
        for scale_y, scale_x, flipped, folded in folds.hypotheses():
            reading = self.read_tile(folded, scale_y, scale_x, flipped)
            if reading.found:
                return reading
            if reading.sync_score > best.sync_score:
                best = reading
            if reading.sync_score >= self.NUDGE_SYNC and centres < self.NUDGED_CENTRES:
                centres += 1
                for refined in folds.nudges(scale_y, scale_x, flipped):
                    reading = self.read_tile(refined[3], *refined[:3])
                    if reading.found:
                        return reading
        return best

    def read_tile(self, folded, scale_y: float, scale_x: float, flipped: bool, *, decode_always: bool = False):
        """The reading of one folded tile. ``decode_always`` decodes and confirms past a failed sync or CRC
        too (the code is still withheld), so the bench can measure what the checks see in unmarked video."""
        layout = self.layout()
        grid = folded.shape[0]
        sync_bins, data_bins, data_y, data_x = self.bins(grid)
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
            "version": self.VERSION,
        }
        if score < self.SYNC_THRESHOLD and not decode_always:
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
        accepted = score >= self.SYNC_THRESHOLD and crc_ok and confirm >= self.CONFIRM_THRESHOLD
        return Reading(code=code if accepted else None, crc_ok=crc_ok, confirm_score=confirm, **found)


def _halves(frames: np.ndarray) -> np.ndarray:
    """(n, H, W) frames at half their size (2 x 2 means), odd edges dropped: four strided sums, several
    times faster than a mean over the axes of a reshaped view."""
    height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    total = frames[:, 0:height:2, 0:width:2] + frames[:, 1:height:2, 0:width:2]
    total += frames[:, 0:height:2, 1:width:2]
    total += frames[:, 1:height:2, 1:width:2]
    return total * np.float32(0.25)


def _local_std(image: np.ndarray, radius: int) -> np.ndarray:
    mean = coding.box_blur(image, radius)
    return np.sqrt(np.maximum(coding.box_blur(image * image, radius) - mean * mean, 0.0))


def _local_contrast(image: np.ndarray, radius: int) -> np.ndarray:
    """The local standard deviation less what the local slope explains: a ramp of luminance (a sky, a
    lit wall, a drawn gradient) hides nothing, however steep; grain and texture do."""
    mean = coding.box_blur(image, radius)
    variance = coding.box_blur(image * image, radius) - mean * mean
    slope_y, slope_x = np.gradient(mean)  # the box's mean slope (the blur and the difference commute)
    # A plane's variance over a (2r+1)^2 box: its squared slope times ((2r+1)^2 - 1) / 12 along each axis.
    variance -= (slope_y * slope_y + slope_x * slope_x) * np.float32(((2 * radius + 1) ** 2 - 1) / 12)
    return np.sqrt(np.maximum(variance, 0.0))


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


def _pairs(rows, cols) -> list[tuple[float, float]]:
    pairs = [(py, px, sy + sx) for py, sy in rows for px, sx in cols]
    # A side that shows the period less than twice gives no peak: assume the same scale as the other.
    pairs += [(px, px, sx) for px, sx in cols] + [(py, py, sy) for py, sy in rows]
    pairs.sort(key=lambda pair: -pair[2])
    return [(py, px) for py, px, _ in pairs]


def _binned(detail: np.ndarray, factor: int) -> np.ndarray:
    """The detail averaged over factor x factor blocks: the mark's band sits far below the new Nyquist
    frequency, and folding a quarter or a sixteenth of the pixels is that much cheaper."""
    if factor == 1:
        return detail
    height, width = detail.shape[0] // factor * factor, detail.shape[1] // factor * factor
    return detail[:height, :width].reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))


def unboxed(image: np.ndarray) -> np.ndarray:
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


def _correlate(spectrum: np.ndarray, grid: int, bins: np.ndarray, phases: np.ndarray) -> np.ndarray:
    products = spectrum[bins] * np.conj(phases)
    size = grid * grid
    correlation = np.bincount(bins, products.real, size) + 1j * np.bincount(bins, products.imag, size)
    return np.fft.ifft2(correlation.reshape(grid, grid)).real


class _Folds:
    """A mean-luma picture made ready to fold at any scale: its bars cut off, its detail taken, and
    that detail binned for the larger periods."""

    def __init__(self, mark: TiledMark, image: np.ndarray):
        self.mark = mark
        self.image = unboxed(np.asarray(image, dtype=np.float32))
        if mark.READ_SIDE is not None:  # the tile repeats: the centre carries the mark as the whole does
            height, width = self.image.shape
            top, left = max(0, (height - mark.READ_SIDE) // 2), max(0, (width - mark.READ_SIDE) // 2)
            self.image = self.image[top : top + mark.READ_SIDE, left : left + mark.READ_SIDE]
        self.detail = mark.detail(self.image)
        self.binned = {1: self.detail}
        self.columns: dict[int, dict] = {}  # per binning: the folds' first steps, by period along x

    def fits(self, scale_y: float, scale_x: float) -> bool:
        mark = self.mark
        period_y, period_x = mark.TILE * scale_y, mark.TILE * scale_x
        height, width = self.image.shape
        if min(height / period_y, width / period_x) < 0.5 or min(period_y, period_x) < mark.MIN_PERIOD * 0.7:
            return False
        return max(period_y, period_x) <= mark.MAX_PERIOD * 1.1

    def fold(self, scale_y: float, scale_x: float) -> np.ndarray:
        mark = self.mark
        period_y, period_x = mark.TILE * scale_y, mark.TILE * scale_x
        factor = next(f for f in (4, 2, 1) if min(period_y, period_x) / f >= mark.TILE // 4 or f == 1)
        if factor not in self.binned:
            self.binned[factor] = _binned(self.detail, factor)
        columns = self.columns.setdefault(factor, {})
        return mark.fold(self.binned[factor], period_y / factor, period_x / factor, columns=columns)

    def hypotheses(self):
        tried = []
        for scale_y, scale_x in self.mark.candidates(self.detail):
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
