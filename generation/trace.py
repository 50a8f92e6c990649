"""Leak tracing: from a clip found outside, back to the job, the person and the time it was made."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
from django.core.exceptions import ValidationError

from generation import watermark
from generation.models import RenderJob, job_code
from generation.provenance import Provenance, provenance_read

MAX_BYTES = 200 * 1024 * 1024
MAX_FRAMES = 150  # the first frames are plenty: the mark is the same in every frame
MAX_PIXELS = 4096 * 2304
NO_MARK = "No mark found."


@dataclass(frozen=True)
class TraceResult:
    status: str  # "found", "no_mark", or "unknown_code" (a mark that checks out but names no job here)
    job: RenderJob | None
    code: int | None
    sync_score: float
    scale: float
    frames_read: int
    provenance: Provenance = field(default_factory=lambda: Provenance("missing"))
    mark_version: int | None = None  # the version of the invisible mark that was read

    @property
    def found(self) -> bool:
        return self.status == "found"

    @property
    def message(self) -> str:
        if self.found:
            job = self.job
            return (
                f"Job {job.pk} ({job.job_code}) by {job.owner.email} in {job.grant.programme.name}, "
                f"queued {job.queued_at:%Y-%m-%d %H:%M:%S %Z}."
            )
        if self.status == "unknown_code":
            return f"A mark was read (code {job_code(self.code)}) but no job here carries it."
        return NO_MARK


def clip_kind(data: bytes) -> str | None:
    """'mp4' (or QuickTime), 'webm' (or Matroska), or None, judged by the file's first bytes."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def clip_check(data: bytes) -> None:
    """Raise ValidationError unless ``data`` may be traced: not empty, not too big, a video container."""
    if not data:
        raise ValidationError("The file is empty.")
    if len(data) > MAX_BYTES:
        megabytes = len(data) // 2**20
        raise ValidationError(f"Clips up to {MAX_BYTES // 2**20} MB can be traced; this one is {megabytes} MB.")
    if clip_kind(data) is None:
        raise ValidationError("This is not an MP4, MOV or WebM video.")


def mean_luma(data: bytes) -> tuple[np.ndarray, int]:
    """The per-pixel mean luma of the first MAX_FRAMES frames of a video, and how many were read."""
    import av

    total, count, shape = None, 0, None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise ValidationError("The file has no video stream.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if frame.width * frame.height > MAX_PIXELS:
                    raise ValidationError(f"Frames of {frame.width}x{frame.height} are too large to trace.")
                plane = frame.to_ndarray(format="gray")
                if shape is None:
                    shape, total = plane.shape, np.zeros(plane.shape, dtype=np.float64)
                if plane.shape != shape:
                    continue  # a change of size mid-stream: the first size is the one traced
                total += plane
                count += 1
                if count >= MAX_FRAMES:
                    break
    except (av.FFmpegError, ValueError) as error:
        raise ValidationError(f"The video could not be decoded ({error}).") from None
    if not count:
        raise ValidationError("The video has no frames that could be decoded.")
    return (total / count).astype(np.float32), count


def trace_clip(data: bytes, *, actor=None, ip: str | None = None, filename: str = "") -> TraceResult:
    """Read the invisible mark of an uploaded clip and find the job it names. Raises ValidationError
    for a file that is not a readable video. Every trace is recorded in the audit trail."""
    from access.audit import audit

    clip_check(data)
    image, frames_read = mean_luma(data)
    reading = watermark.read_mean_luma(image)
    job = None
    if reading.found:
        job = RenderJob.objects.select_related("owner", "grant__programme").filter(mark_code=reading.code).first()
    status = "found" if job else ("unknown_code" if reading.found else "no_mark")
    result = TraceResult(
        status=status,
        job=job,
        code=reading.code,
        sync_score=reading.sync_score,
        scale=reading.scale,
        frames_read=frames_read,
        provenance=provenance_read(data),
        mark_version=reading.version if reading.found else None,
    )
    audit(
        "generation.clip_traced",
        actor=actor,
        subject=job.owner if job else None,
        programme=job.grant.programme if job else None,
        target=job.pk if job else "",
        ip=ip,
        result=status,
        job_code=job_code(reading.code) if reading.found else "",
        filename=filename[:200],
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        frames=frames_read,
        sync_score=round(reading.sync_score, 2),
        scale=round(reading.scale, 4),
        provenance=result.provenance.status,
    )
    return result
