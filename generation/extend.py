"""Extending a clip: the continuation is rendered from the source's last frames and joined to the source, so the
extended clip plays the source and then the new frames, as one clip."""

from __future__ import annotations

import numpy as np

from generation.registry import EXTEND

# Frames of the source clip an extension is conditioned on (LTX's condition videos are 8k+1 frames). The
# continuation's first frames repeat them; the join keeps the source's own.
EXTEND_CONTEXT_FRAMES = 9


def extend_join(source: np.ndarray, continuation: np.ndarray) -> np.ndarray:
    """The extended clip's frames: all of ``source``'s, then ``continuation``'s after the frames it repeats
    (both (frames, height, width, 3) uint8, the same size)."""
    if source.shape[1:] != continuation.shape[1:]:
        raise ValueError(
            f"A continuation of {continuation.shape[2]}x{continuation.shape[1]} cannot join a "
            f"{source.shape[2]}x{source.shape[1]} source."
        )
    if len(continuation) <= EXTEND_CONTEXT_FRAMES:
        raise ValueError(f"A continuation needs more than the {EXTEND_CONTEXT_FRAMES} frames it repeats.")
    return np.concatenate([source, continuation[EXTEND_CONTEXT_FRAMES:]])


def clip_frames(job) -> int:
    """The frames in ``job``'s clip: what it rendered, or for an extension its source's clip and the new frames."""
    if job.mode == EXTEND and job.source_id is not None:
        return clip_frames(job.source) + job.num_frames - EXTEND_CONTEXT_FRAMES
    return job.num_frames
