"""A clip as feedback sees it: the programme it belongs to, everything needed to render it again, and the
rule that people rate and report only their own clips."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from feedback.model_versions import model_version_at
from generation.models import RenderJob
from generation.registry import MODELS

# An input image's content type, by the format read from its bytes when it was uploaded.
IMAGE_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# A job's input images, as its fields name them.
INPUT_IMAGES = ("image", "last_image")


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
        **job_inputs(job),
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


def job_inputs(job: RenderJob) -> dict:
    """What ``job`` was made from besides its prompt and settings: its mode, the images it started from or
    ended on (id, format, size and checksum), the clip it extends, restyles or upscales (id, and that clip's
    own prompt, seed and model), and the restyle strength. Only the inputs the job has."""
    inputs: dict = {"mode": job.mode}
    for name in INPUT_IMAGES:
        image = getattr(job, name)
        if image is not None:
            inputs[name] = str(image.pk)
            inputs[f"{name}_file"] = (
                f"{image.format} {image.width}x{image.height}, {image.bytes} bytes, sha256 {image.sha256}"
            )
    source = job.source
    if source is not None:
        inputs |= {
            "source": str(source.pk),
            "source_prompt": source.prompt,
            "source_seed": source.seed,
            "source_model": source.model_key,
        }
    if job.strength is not None:
        inputs["strength"] = job.strength
    return inputs


def own_job_check(job: RenderJob, person) -> None:
    if job.owner_id != person.pk:
        raise PermissionDenied("You can only do this with your own clips.")
