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

from generation.marks.tiled import TiledMark, unboxed


class Version2(TiledMark):
    VERSION = 2
    TILE = 256
    BAND = (3.0, 13.0)  # cycles per tile
    SYNC_SHARE = 0.3
    PATTERN_SEED = 0x6261636B6C6F7432  # "backlot2"
    SCALES = (1.0, 0.5, 0.75, 2 / 3, 0.5625, 0.8, 0.9, 0.625, 0.375, 0.25, 1.25, 1.5)
    MIN_PERIOD, MAX_PERIOD = 44.0, 400.0  # pixels: scales of 0.17 to 1.56
    DETAIL_RADIUS = 12
    SYNC_THRESHOLD = 4.5
    CONFIRM_THRESHOLD = 11.0


MARK = Version2()
VERSION, TILE, CONFIRM_THRESHOLD, MOST_NUDGES = MARK.VERSION, MARK.TILE, MARK.CONFIRM_THRESHOLD, MARK.MOST_NUDGES
tile_for, strength_map, delta_for = MARK.tile_for, MARK.strength_map, MARK.delta_for
read, hypotheses, _read_tile, _unboxed = MARK.read, MARK.hypotheses, MARK.read_tile, unboxed
