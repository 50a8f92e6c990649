"""What a version's reader returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    """What the reader saw: the code (None unless sync, CRC and confirmation all agree), and why."""

    code: int | None
    sync_score: float
    scale: float  # the copy's width over the marked width
    crc_ok: bool
    confirm_score: float = 0.0
    version: int | None = None
    scale_y: float | None = None  # its height over the marked height, where it was measured apart
    flipped: bool = False

    @property
    def found(self) -> bool:
        return self.code is not None
