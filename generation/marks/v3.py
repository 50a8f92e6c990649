"""Version 3 of the invisible mark: version 2's design (tiled.py, explained in v2.py) for small frames.

Version 2's 256-pixel tile appears once in a 256 x 256 frame, and once halved it shows no period to
measure; version 1's 128-pixel tile repeats, but at a fixed strength and periods as short as 12
pixels, which a halving and CRF 30 smear. Version 3 keeps the 128-pixel tile, moves the band down to
2 to 10 cycles per tile (periods of 13 to 64 pixels, still 6 or more after a halving), and takes
version 2's reader (periods measured per axis, aspect changes, flips, letterboxes) and its
perceptual strength. Frames whose shorter side is under two version-2 tiles are marked with it.
"""

from __future__ import annotations

from generation.marks.tiled import TiledMark


class Version3(TiledMark):
    VERSION = 3
    TILE = 128
    BAND = (2.0, 10.0)  # cycles per tile: 38 sync bins, 116 data bins for 108 coded bits
    SYNC_SHARE = 0.25
    PATTERN_SEED = 0x6261636B6C6F7433  # "backlot3"
    SCALES = (1.0, 0.5, 0.75, 2 / 3, 0.5625, 0.8, 0.9, 0.625, 1.25, 1.5)
    MIN_PERIOD, MAX_PERIOD = 40.0, 200.0  # pixels: scales of 0.31 to 1.56
    DETAIL_RADIUS = 8
    READ_SIDE = 384  # a tile of 128 at up to 1.56 repeats twice in it; reading 720p whole cost 0.8 s
    SYNC_THRESHOLD = 4.5
    CONFIRM_THRESHOLD = 11.0
    # Strengths (the marker's choice; reading is the same at any): a small frame holds few tiles, so its mark
    # is stronger where something hides it. With version 2's, smooth footage at 256x256 lost the strength that
    # motion measured over the whole clip gave it, and traced 101 of 168 small-frame trials against 116.
    STRENGTH_FLAT = 1.9
    SPEED_GAIN = 0.6


MARK = Version3()
VERSION, TILE, CONFIRM_THRESHOLD, MOST_NUDGES = MARK.VERSION, MARK.TILE, MARK.CONFIRM_THRESHOLD, MARK.MOST_NUDGES
tile_for, strength_map, delta_for = MARK.tile_for, MARK.strength_map, MARK.delta_for
read, hypotheses, _read_tile = MARK.read, MARK.hypotheses, MARK.read_tile
