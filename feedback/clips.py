"""A clip as feedback sees it: the programme it belongs to, everything needed to render it again, and the
rule that people rate and report only their own clips."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from feedback.model_versions import model_version_at
from generation.models import RenderJob
from generation.registry import MODELS


def job_programme(job: RenderJob):
    return job.grant.programme


def job_reproduction(job: RenderJob) -> dict:
    """Everything needed to render ``job`` again, and to see where and how long it ran."""
    spec = MODELS.get(job.model_key)
    version = model_version_at(job_programme(job), job.model_key, job.queued_at)
    when = {
        field: getattr(job, field).isoformat() if getattr(job, field) else None
        for field in ("queued_at", "started_at", "finished_at")
    }
    return {
        "job": str(job.pk),
        "model_key": job.model_key,
        "model": spec.label if spec else job.model_key,
        "pipeline": spec.pipeline_class if spec else "",
        "hub_id": spec.hub_id if spec else "",
        "model_version": version.version if version else "",
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "num_frames": job.num_frames,
        "width": job.width,
        "height": job.height,
        "num_steps": job.num_steps,
        "guidance_scale": job.guidance_scale,
        "seed": job.seed,
        "state": job.state,
        "error": job.error,
        "worker": job.worker,
        "attempts": job.attempts,
        **when,
        "gpu_seconds": job.gpu_seconds,
        "encode_seconds": job.encode_seconds,
        "output_bytes": job.output_bytes,
        "clip": job.output.name if job.output else "",
    }


def own_job_check(job: RenderJob, person) -> None:
    if job.owner_id != person.pk:
        raise PermissionDenied("You can only do this with your own clips.")
