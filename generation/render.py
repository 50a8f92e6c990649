"""The worker's side of a job: claim it, render it on the GPU reporting each step (and stopping when the
job may not go on), then mark, encode and store the clip beside the next render, and write the outcome
to the job's row."""

from __future__ import annotations

import errno
import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db.models import F
from django.utils import timezone

from access.policy import may_render
from generation import health, metrics
from generation.models import RenderJob
from generation.outages import outlasting_database_restarts, retried
from generation.queue import job_claim_next
from generation.quota import charge_refund, charge_settle
from generation.registry import EXTEND, model_get
from generation.render_settings import RenderSettings

log = logging.getLogger(__name__)


def job_render(*, job_id, worker: str, task_id: str = "") -> RenderJob | None:
    """Claim a job and render it, then hand the frames to post-processing (marks, encoding,
    storage), which runs beside the next render. Every outcome is written to the row. A failure that is the
    worker's own fault (generation.health.render_fault) gives the job back to the queue instead of failing it,
    and an unhealthy worker claims nothing."""
    from generation import postprocess, runner
    from generation.encoding import frames_to_uint8

    if not health.worker_is_healthy(worker):
        health.message_pass_on(hint_id=job_id, worker=worker, task_id=task_id)
        return None
    job = job_claim_next(hint_id=job_id, worker=worker, task_id=task_id)
    if job is None:
        log.info("generation.job_skipped job=%s", job_id)
        return None
    metrics.worker_claimed(job)
    spec = model_get(job.model_key)
    settings_ = RenderSettings.from_job(job).as_fields()
    del settings_["model_key"]
    rendering = False  # until the job's own inputs are read: what fails before is the job's fault
    try:
        params = runner.RenderParams(prompt=job.prompt, **settings_, **job_inputs(job))
        rendering = True
        result = runner.render(spec, params, on_step=lambda step, total: job_progress(job=job, step=step, total=total))
        frames = frames_to_uint8(result.frames)
    except runner.RenderStopped as stopped:
        log.info("generation.render_stopped job=%s reason=%s", job.pk, stopped.reason)
    except SoftTimeLimitExceeded:
        job_fail(job=job, reason=f"The render took longer than the {settings.CELERY_TASK_SOFT_TIME_LIMIT} s limit.")
    except Exception as error:
        if isinstance(error, runner.ModelUnavailable):
            reason = str(error)
        else:
            log.exception("generation.render_crashed job=%s", job.pk)
            reason = f"The render failed: {type(error).__name__}: {error}"
        fault = health.render_fault(error) if rendering else health.Fault.JOB
        if fault is health.Fault.JOB:
            job_fail(job=job, reason=reason)
        else:
            metrics.worker_faulted(job)
            health.worker_fault(job=job, worker=worker, reason=reason, fault=fault)
    else:
        health.worker_rendered(hostname=worker)
        retried(lambda: _running(job).update(heartbeat_at=timezone.now()))
        source = params.source_frames if job.mode == EXTEND else None
        postprocess.submit(
            lambda: job_finish(job=job, frames=frames, device_seconds=result.device_seconds, source_frames=source)
        )
    retried(job.refresh_from_db)
    return job


def job_inputs(job: RenderJob) -> dict:
    """A mode job's inputs as the runner takes them: images as RGB PIL images, the source clip's frames."""
    from PIL import Image, ImageOps

    from generation.encoding import decode_mp4

    inputs: dict = {"mode": job.mode, "strength": job.strength}
    for name in ("image", "last_image"):
        upload = getattr(job, name)
        if upload is not None:
            with upload.file.open("rb") as handle, Image.open(handle) as image:
                # Scaled to cover the clip's frame and centre-cropped, so it is never stretched.
                inputs[name] = ImageOps.fit(image.convert("RGB"), (job.width, job.height), Image.Resampling.LANCZOS)
    if job.source is not None:
        with job.source.output.open("rb") as handle:
            inputs["source_frames"] = decode_mp4(handle.read())
    return inputs


def _running(job: RenderJob):
    """The job's row, only while this attempt still owns it."""
    return RenderJob.objects.filter(pk=job.pk, state=RenderJob.State.RUNNING, attempts=job.attempts)


@outlasting_database_restarts
def job_progress(*, job: RenderJob, step: int, total: int) -> None:
    """Record a finished denoising step; raises RenderStopped if the job must not go on."""
    from generation.runner import RenderStopped

    owner = get_user_model().objects.get(pk=job.owner_id)
    decision = may_render(owner)
    if not decision:
        job_fail(job=job, reason=f"Stopped: {decision.reason}", state=RenderJob.State.CANCELLED)
        _stopped(job)
        raise RenderStopped(decision.reason)
    now = timezone.now()
    stage = (
        {"stage": RenderJob.Stage.DENOISING}
        if step < total
        else {"stage": RenderJob.Stage.DECODING, "denoised_at": now}
    )
    if not _running(job).update(progress_step=step, progress_total=total, heartbeat_at=now, **stage):
        _stopped(job)
        raise RenderStopped("The job was cancelled.")


def _stage(job: RenderJob, stage: str) -> None:
    """Say which part of the work after the denoising steps the job is in (its page shows it)."""
    retried(lambda: _running(job).update(stage=stage, heartbeat_at=timezone.now()))


def _stopped(job: RenderJob) -> None:
    mine = RenderJob.objects.filter(pk=job.pk, attempts=job.attempts, stopped_at__isnull=True)
    mine.update(stopped_at=timezone.now())


@outlasting_database_restarts
def job_fail(*, job: RenderJob, reason: str, state: str = RenderJob.State.FAILED) -> bool:
    changed = charge_refund(_running(job), state=state, error=reason[:4000], finished_at=timezone.now())
    if changed:
        log.warning("generation.render_failed job=%s state=%s reason=%s", job.pk, state, reason)
        metrics.worker_ended(job, state=state, reason=reason)
    return bool(changed)


def job_succeed(
    *, job: RenderJob, video: bytes, device_seconds: float, encode_seconds: float, poster: bytes | None = None
) -> bool:
    storage = job.output.field.storage
    saved: list[str] = []
    try:
        saved.append(storage.save(f"renders/{job.owner_id}/{job.pk}.mp4", ContentFile(video)))
        if poster:
            saved.append(storage.save(f"posters/{job.owner_id}/{job.pk}.jpg", ContentFile(poster)))
    except Exception:
        _delete_quietly(storage, saved)  # a clip without its poster, or half a clip, is not kept
        raise
    name, poster_name = saved[0], saved[1] if poster else ""
    changed = retried(
        lambda: charge_settle(
            _running(job),
            device_seconds=device_seconds,
            state=RenderJob.State.SUCCEEDED,
            output=name,
            poster=poster_name,
            output_bytes=len(video),
            finished_at=timezone.now(),
            gpu_seconds=device_seconds,
            encode_seconds=encode_seconds,
            mark_version=job.mark_version,
            progress_step=F("progress_total"),
            error="",
        )
    )
    if not changed:
        # Cancelled, deleted or taken over while encoding: the clip must not outlive the job's state.
        _delete_quietly(storage, saved)
    else:
        metrics.worker_succeeded(job, device_seconds=device_seconds, encode_seconds=encode_seconds)
    return bool(changed)


def _delete_quietly(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            log.exception("generation.media_delete_failed name=%s", name)


def job_finish(*, job: RenderJob, frames, device_seconds: float, source_frames=None) -> bool:
    """The CPU half of a render: mark the frames, encode them, sign the clip's Content Credentials and
    store it, then mark the job done. A clip that cannot be signed is not stored: the job fails, refunded.
    ``source_frames`` (an extension's source clip, decoded): the clip is the source joined to the new frames,
    marked and signed as one, the source's part keeping its own visible stamp."""
    from generation import watermark
    from generation.credentials import credentials_sign
    from generation.encoding import encode_mp4
    from generation.extend import extend_join
    from generation.poster import poster_jpeg

    spec = model_get(job.model_key)
    try:
        stage = RenderJob.Stage.MARKING
        if not retried(lambda: _running(job).update(stage=stage, heartbeat_at=timezone.now())):
            return False  # cancelled or taken over while it waited for post-processing
        started = time.perf_counter()
        already_stamped = 0
        if source_frames is not None:
            frames, already_stamped = extend_join(source_frames, frames), len(source_frames)
        job.mark_version = watermark.version_for(*frames.shape[1:3])
        marked = watermark.mark_clip(frames, job, already_stamped=already_stamped)
        _stage(job, RenderJob.Stage.ENCODING)
        video = encode_mp4(marked, fps=spec.fps, crf=settings.BACKLOT_VIDEO_CRF, preset=settings.BACKLOT_VIDEO_PRESET)
        _stage(job, RenderJob.Stage.SIGNING)
        video = credentials_sign(video, job)
        _stage(job, RenderJob.Stage.STORING)
        return job_succeed(
            job=job,
            video=video,
            device_seconds=device_seconds,
            encode_seconds=time.perf_counter() - started,
            poster=poster_jpeg(frames),
        )
    except Exception as error:
        log.exception("generation.postprocess_failed job=%s", job.pk)
        return job_fail(job=job, reason=_postprocess_failure(error))


def _postprocess_failure(error: Exception) -> str:
    from generation.credentials import CredentialsError

    if isinstance(error, CredentialsError):
        return f"The clip could not be signed: {error} Its GPU time was refunded."
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "The clip could not be stored: the media storage is full. Its GPU time was refunded; try again later."
    return f"The clip could not be encoded or stored: {type(error).__name__}: {error}"
