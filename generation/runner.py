"""Loads diffusers pipelines and renders with them. Imported only in worker processes.

Each worker process keeps the pipelines it has loaded resident for its lifetime. The pipeline is
loaded lazily in the process that renders (a prefork child), never in the parent: a forked child
of a parent that has run inference hangs, and CUDA cannot be re-initialised after a fork.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from generation.acceleration import Tuning, TuningError, pipeline_tune
from generation.registry import ModelSpec

log = logging.getLogger(__name__)

_pipelines: dict[str, object] = {}
_lock = threading.Lock()


class RenderStopped(Exception):
    """Raised from the step callback to stop a render before it decodes (cancelled or revoked)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ModelUnavailable(Exception):
    pass


@dataclass(frozen=True)
class RenderParams:
    prompt: str
    negative_prompt: str
    num_frames: int
    width: int
    height: int
    num_steps: int
    guidance_scale: float
    seed: int


@dataclass(frozen=True)
class RenderResult:
    frames: np.ndarray  # (frames, height, width, 3) float32 in [0, 1]
    device_seconds: float


def _device_and_dtype():
    import torch

    device = settings.BACKLOT_DEVICE
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype_name = settings.BACKLOT_TORCH_DTYPE
    if dtype_name == "auto":
        dtype_name = "bfloat16" if device.startswith("cuda") else "float32"
    return device, getattr(torch, dtype_name)


def device_label() -> str:
    """The device this process renders on, with the GPU's name, e.g. "cuda:0 NVIDIA H100 80GB HBM3"."""
    import torch

    device, _ = _device_and_dtype()
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return device


def pipeline_get(spec: ModelSpec):
    """The resident pipeline for ``spec``, loaded on first use in this process."""
    with _lock:
        if spec.key not in _pipelines:
            _pipelines[spec.key] = _pipeline_load(spec)
        return _pipelines[spec.key]


def _pipeline_load(spec: ModelSpec):
    import diffusers
    import torch
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    if settings.BACKLOT_TORCH_THREADS:
        torch.set_num_threads(settings.BACKLOT_TORCH_THREADS)
    device, dtype = _device_and_dtype()
    source = spec.source()
    started = time.perf_counter()
    pipeline_class = getattr(diffusers, spec.pipeline_class)
    try:
        pipeline = pipeline_class.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"Could not load {spec.label} from {source}: {error}") from error
    try:
        pipeline_tune(pipeline, device=device, tuning=Tuning.from_settings())
    except TuningError as error:
        raise ModelUnavailable(f"Could not prepare {spec.label} on this worker: {error}") from error
    pipeline.set_progress_bar_config(disable=True)
    log.info(
        "generation.model_loaded model=%s source=%s device=%s dtype=%s seconds=%.2f",
        spec.key,
        source,
        device,
        dtype,
        time.perf_counter() - started,
    )
    return pipeline


def pipelines_preload(model_keys) -> None:
    """Load these models now (a worker process starting), so the first job does not wait for them."""
    from generation.registry import model_get

    for key in model_keys:
        try:
            pipeline_get(model_get(key))
        except (ImproperlyConfigured, ModelUnavailable) as error:
            log.error("generation.preload_failed model=%s error=%s", key, error)


def render(spec: ModelSpec, params: RenderParams, *, on_step: Callable[[int, int], None]) -> RenderResult:
    """Render ``params`` with ``spec``'s pipeline. ``on_step(done, total)`` runs after every
    denoising step and may raise RenderStopped to abort before the video is decoded."""
    import torch

    pipeline = pipeline_get(spec)
    device, _ = _device_and_dtype()

    def step_end(pipe, step, timestep, callback_kwargs):
        on_step(step + 1, pipe.num_timesteps)
        return {}

    generator = torch.Generator(device="cpu").manual_seed(params.seed)
    started = time.perf_counter()
    output = pipeline(
        prompt=params.prompt,
        negative_prompt=params.negative_prompt or None,
        num_frames=params.num_frames,
        width=params.width,
        height=params.height,
        num_inference_steps=params.num_steps,
        guidance_scale=params.guidance_scale,
        generator=generator,
        output_type="np",
        max_sequence_length=spec.max_sequence_length,
        callback_on_step_end=step_end,
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return RenderResult(frames=output.frames[0], device_seconds=time.perf_counter() - started)
