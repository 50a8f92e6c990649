"""The generate page's shortcuts: aspect-ratio and duration chips drawn from a model's rules within a
grant, and the artist's recent clips beside the form. The chips only fill in width, height and frames;
the form and job_validate still check whatever arrives."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings

from generation.gallery import jobs_for
from generation.models import RenderJob
from generation.registry import ModelSpec

ASPECT_RATIOS = (("16:9", 16, 9), ("9:16", 9, 16), ("1:1", 1, 1), ("4:3", 4, 3))
# Durations offered, in seconds; each becomes the model's nearest valid frame count within the grant.
DURATION_SECONDS = (1, 2, 3, 5, 8, 10)
# A size within this share of a chip's ratio counts as that ratio (sizes are multiples of 16 or 32).
RATIO_TOLERANCE = 0.03
# Within the tolerance, how much a ratio's miss counts against a pixel count's (both as log ratios):
# an exact 1:1 at 2 % more pixels beats 0.99:1 at exactly the default's.
RATIO_WEIGHT = 4
RECENT_COUNT = 6


@dataclass(frozen=True)
class SizeChip:
    label: str
    width: int
    height: int


@dataclass(frozen=True)
class DurationChip:
    frames: int
    seconds: float

    @property
    def label(self) -> str:
        return f"{self.seconds:.1f} s"


def _sizes(spec: ModelSpec, largest: int) -> range:
    return range(spec.min_size, largest + 1, spec.size_multiple)


def aspect_chips(spec: ModelSpec, grant=None) -> list[SizeChip]:
    """For each ratio, the valid width and height nearest it within the model's and the grant's limits,
    at about the model's default pixel count (so a chip changes the shape, not the cost). Among sizes within
    RATIO_TOLERANCE of the ratio the model's default size (either way round) wins, else the one nearest both
    (RATIO_WEIGHT); where none is that close, the nearest ratio."""
    limits = spec.limits_within(grant)
    widths = _sizes(spec, limits["max_width"])
    heights = _sizes(spec, limits["max_height"])
    if not widths or not heights:
        return []
    target = min(spec.default_width * spec.default_height, widths[-1] * heights[-1])
    # The model's own size (and turned on its side) where it fits a ratio: e.g. Wan's 832x480 for 16:9.
    defaults = {(spec.default_width, spec.default_height), (spec.default_height, spec.default_width)}
    chips = []
    for label, across, down in ASPECT_RATIOS:
        ratio = across / down

        def ratio_off(size, ratio=ratio):
            return abs(math.log(size[0] / size[1] / ratio))

        def area_off(size):
            return abs(math.log(size[0] * size[1] / target))

        sizes = [(width, height) for width in widths for height in heights]
        close = [size for size in sizes if ratio_off(size) <= math.log1p(RATIO_TOLERANCE)]
        native = [size for size in close if size in defaults]
        width, height = (
            native[0]
            if native
            else min(close, key=lambda size: (area_off(size) + RATIO_WEIGHT * ratio_off(size), size))
            if close
            else min(sizes, key=lambda size: (ratio_off(size), area_off(size), size))
        )
        chips.append(SizeChip(label, width, height))
    return chips


def duration_chips(spec: ModelSpec, grant=None) -> list[DurationChip]:
    """A few lengths in seconds at the model's frame rate, each the nearest valid frame count (frame_step k + 1,
    more than one frame) within the model's and the grant's limits; the same count is offered once."""
    most = spec.limits_within(grant)["max_frames"]
    counts = list(range(1 + spec.frame_step, most + 1, spec.frame_step))
    chosen: list[int] = []
    for seconds in DURATION_SECONDS:
        if counts:
            frames = min(counts, key=lambda count: (abs(count - seconds * spec.fps), count))
            if frames not in chosen:
                chosen.append(frames)
    return [DurationChip(frames, frames / spec.fps) for frames in chosen]


def recent_clips(user, *, count: int = RECENT_COUNT) -> list[RenderJob]:
    """``user``'s newest clips (their own only, none deleted), in one query."""
    return list(jobs_for(user).order_by("-queued_at", "-id")[:count])


def recent_version(jobs: list[RenderJob]) -> str:
    """A short fingerprint of what the recent-clips column shows: it changes when a clip is added, moves on
    a step or finishes, and at least twice per media-link lifetime so that its signed links never go stale."""
    refresh = max(60, settings.BACKLOT_MEDIA_LINK_SECONDS // 2)
    shown = [(job.pk.hex, job.state, job.progress_step, job.stage, bool(job.poster)) for job in jobs]
    shown.append(int(time.time()) // refresh)
    return hashlib.blake2s(repr(shown).encode(), digest_size=6).hexdigest()
