"""Leak tracing: from a clip found outside, back to the job, the person and the time it was made."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from django.core.exceptions import ValidationError

from generation import watermark
from generation.credentials import Credentials, credentials_read
from generation.luma import GrayFrames
from generation.models import RenderJob, job_code

MAX_BYTES = 200 * 1024 * 1024
# One upload of several clips (the page, the API) is traced within one request: these bound its time.
MAX_FILES = 10
MAX_TOTAL_BYTES = 400 * 1024 * 1024
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
    credentials: Credentials = field(default_factory=lambda: Credentials("absent"))
    identified_by: str = ""  # "mark", "credentials", "mark and credentials", or "" when no job was found
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


def mark_code_of(code: str) -> int | None:
    """The mark code a 7-character job code spells, or None for a string that is not one."""
    from generation.models import CODE_ALPHABET

    if len(code) != 7 or any(letter not in CODE_ALPHABET for letter in code):
        return None
    return sum(CODE_ALPHABET.index(letter) << shift for letter, shift in zip(code, range(30, -1, -5), strict=True))


CLIP_HEAD = 12  # bytes enough to tell the container


def clip_kind(data: bytes) -> str | None:
    """'mp4' (or QuickTime), 'webm' (or Matroska), or None, judged by the file's first bytes."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def clip_check(data: bytes, *, name: str = "The file") -> None:
    """Raise ValidationError unless ``data`` may be traced: not empty, not too big (code "too_large"), and a
    video container by its first bytes, whatever its name or declared type says."""
    _clip_rules(name, len(data), data[:CLIP_HEAD])


def _clip_rules(name: str, size: int, head: bytes) -> None:
    if not size:
        raise ValidationError(f"{name} is empty.")
    if size > MAX_BYTES:
        raise ValidationError(
            f"{name} is {size / 2**20:.0f} MB; clips up to {MAX_BYTES // 2**20} MB can be traced. Cut a short excerpt.",
            code="too_large",
        )
    if clip_kind(head) is None:
        raise ValidationError(f"{name} is not an MP4, MOV or WebM video.")


def mean_luma(data: bytes) -> tuple[np.ndarray, int]:
    """The per-pixel mean luma of the first MAX_FRAMES frames of a video, and how many were read."""
    import av

    total, count, shape = None, 0, None
    gray = GrayFrames()
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise ValidationError("The file has no video stream.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if frame.width * frame.height > MAX_PIXELS:
                    raise ValidationError(f"Frames of {frame.width}x{frame.height} are too large to trace.")
                plane = gray(frame)
                if shape is None:
                    # Whole numbers, so the sum is exact whatever its type: 150 frames of 255 fit 32 bits.
                    shape, total = plane.shape, np.zeros(plane.shape, dtype=np.uint32)
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


def uploads_check(uploads) -> None:
    """Raise ValidationError unless these uploaded files (Django's, with a name, a size and a position) may be
    traced in one request: how many, how large (code "too_large"), and each a video container by its first
    bytes, whatever its name or declared type says. Decoding is left to each trace."""
    if not uploads:
        raise ValidationError("Choose at least one clip to trace.")
    if len(uploads) > MAX_FILES:
        raise ValidationError(f"At most {MAX_FILES} clips can be traced at once; {len(uploads)} were sent.")
    for upload in uploads:
        upload.seek(0)
        head = upload.read(CLIP_HEAD)  # the kind from the first bytes; nothing more is read here
        upload.seek(0)
        _clip_rules(upload.name, upload.size, head)
    total = sum(upload.size for upload in uploads)
    if total > MAX_TOTAL_BYTES:
        raise ValidationError(
            f"These clips add up to {total / 2**20:.0f} MB; at most {MAX_TOTAL_BYTES // 2**20} MB can be traced "
            "at once. Send fewer or shorter clips.",
            code="too_large",
        )


def trace_programme(actor):
    """The programme a trace is recorded under when the clip names no job: the one programme the tracer
    administers, so that its admins see the trace in their trail; None for an operator's staff or an admin of
    several programmes (the event then shows in the site-wide trail only)."""
    from access.models import Membership, Role

    if actor is None or not actor.is_authenticated:
        return None
    programmes = [
        m.programme for m in Membership.objects.filter(user=actor, role=Role.ADMIN).select_related("programme")[:2]
    ]
    return programmes[0] if len(programmes) == 1 else None


@dataclass(frozen=True)
class TraceOutcome:
    """One file of a many-file trace: its result, or why it could not be read."""

    filename: str
    result: TraceResult | None
    error: str = ""

    @property
    def outcome(self) -> str:
        return self.result.status if self.result else "unreadable"


def traces_run(
    files: Iterable[tuple[str, Callable[[], bytes]]], *, actor=None, ip: str | None = None
) -> Iterator[TraceOutcome]:
    """Trace each file in turn, as (name, a function returning its bytes), so that only one file is held at
    a time. A file that cannot be read or is not a readable video gives an outcome with its error (and no
    audit event, as nothing was traced); every other file is traced and audited on its own."""
    programme = trace_programme(actor)
    for filename, load in files:
        try:
            data = load()
            result = trace_clip(data, actor=actor, ip=ip, filename=filename, programme=programme)
        except ValidationError as error:
            yield TraceOutcome(filename, None, " ".join(error.messages))
        except OSError as error:
            yield TraceOutcome(filename, None, f"Cannot read it: {error.strerror or error}.")
        else:
            yield TraceOutcome(filename, result)


def trace_clip(data: bytes, *, actor=None, ip: str | None = None, filename: str = "", programme=None) -> TraceResult:
    """Read the invisible mark of an uploaded clip and find the job it names. Raises ValidationError
    for a file that is not a readable video. Every trace is recorded in the audit trail, under the job's
    programme, or ``programme`` (the tracer's, see trace_programme) when the clip names no job here."""
    from access.audit import audit

    clip_check(data)
    image, frames_read = mean_luma(data)
    reading = watermark.read_mean_luma(image)
    jobs = RenderJob.objects.select_related("owner", "grant__programme")
    job = jobs.filter(mark_code=reading.code).first() if reading.found else None
    credentials = credentials_read(data)
    # Only a manifest signed under a trusted anchor names a job: anyone can sign an "untrusted" one.
    signed_job = None
    if credentials.status == "valid" and credentials.job_code:
        signed_job = jobs.filter(mark_code=mark_code_of(credentials.job_code)).first()
    found = job or signed_job  # where they disagree, the mark wins: it cannot be re-signed
    identified_by = " and ".join(
        name for name, named in (("mark", job), ("credentials", signed_job)) if named and named == found
    )
    job = found
    status = "found" if job else ("unknown_code" if reading.found else "no_mark")
    result = TraceResult(
        status=status,
        job=job,
        code=reading.code,
        sync_score=reading.sync_score,
        scale=reading.scale,
        frames_read=frames_read,
        credentials=credentials,
        identified_by=identified_by,
        mark_version=reading.version if reading.found else None,
    )
    audit(
        "generation.clip_traced",
        actor=actor,
        subject=job.owner if job else None,
        programme=job.grant.programme if job else programme,
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
        credentials=credentials.status,
        identified_by=identified_by,
    )
    return result
