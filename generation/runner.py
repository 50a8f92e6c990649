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
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from generation.acceleration import Tuning, TuningError, pipeline_tune
from generation.registry import ModelSpec

log = logging.getLogger(__name__)

_pipelines: dict[str, object] = {}
# (model key, mode key) -> (the resident pipeline it was built on, a mode's pipeline sharing its parts).
_mode_pipelines: dict[tuple[str, str], tuple[object, object]] = {}
# (model key, class, source, sub-folder) -> (the resident pipeline, a part loaded for its modes).
_extra_components: dict[tuple[str, str, str, str], tuple[object, object]] = {}
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
    mode: str = "text_to_video"
    image: object | None = None  # PIL images
    last_image: object | None = None
    source_frames: np.ndarray | None = None  # (frames, H, W, 3) uint8 of the source clip
    strength: float | None = None


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
    pipeline_class = pipeline_class_get(spec.pipeline_class)
    try:
        pipeline = pipeline_class.from_pretrained(source, dtype=dtype, **dict(spec.load_options))
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:  # a missing folder (OSError), a bad config (ValueError), corrupt weights (anything)
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


def pipeline_class_get(name: str):
    """A diffusers pipeline class by name, or one of ours by dotted path (Pyramid Flow is not in diffusers)."""
    import importlib

    import diffusers

    if "." not in name:
        return getattr(diffusers, name)
    module_name, class_name = name.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)


def mode_pipeline_get(spec: ModelSpec, mode):
    """The pipeline for ``mode`` (a registry.ModeSpec), made once per process from the model's resident
    pipeline with ``from_pipe``: it shares the transformer, VAE and text encoder rather than loading them
    again. The parts the text-to-video checkpoint lacks (LTX's latent upsampler, an image checkpoint's
    transformer, Wan's CLIP image encoder and processor) are loaded once each and take their places."""
    base = pipeline_get(spec)
    with _lock:
        key = (spec.key, mode.key)
        if key not in _mode_pipelines or _mode_pipelines[key][0] is not base:
            extras = {part.name: _extra_component(spec, part, base) for part in mode.extra_components}
            pipeline_class = pipeline_class_get(mode.pipeline_class)
            pipeline = pipeline_class.from_pipe(base, **extras)
            pipeline.set_progress_bar_config(disable=True)
            _mode_pipelines[key] = (base, pipeline)
        return _mode_pipelines[key][1]


def _extra_component(spec: ModelSpec, part, base):
    """``part`` (a registry.ExtraComponent) loaded from the model's folder (the smoke build's or the
    configured one: its sub-folder) or from its hub checkpoint, once per resident pipeline: modes that name
    the same part from the same place share it."""
    configured = settings.BACKLOT_MODEL_SOURCES.get(spec.key)
    if configured is None:
        source, kwargs = str(spec.smoke_folder / part.local_folder), {}
    elif configured == "hub":
        source, kwargs = part.hub_id, {"subfolder": part.hub_subfolder} if part.hub_subfolder else {}
    else:
        source, kwargs = configured, {"subfolder": part.local_folder}
    key = (spec.key, part.class_path, source, kwargs.get("subfolder", ""))
    held = _extra_components.get(key)
    if held is not None and held[0] is base:
        return held[1]
    component_class = pipeline_class_get(part.class_path)
    try:
        if hasattr(component_class, "to"):  # a model: on the pipeline's device, in its dtype
            component = component_class.from_pretrained(source, dtype=base.vae.dtype, **kwargs)
            component = component.to(base.vae.device).eval()
        else:  # a processor: configuration only
            component = component_class.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"Could not load {spec.label}'s {part.name} from {source}: {error}") from error
    _extra_components[key] = (base, component)
    return component


def pipelines_preload(model_keys) -> dict[str, str]:
    """Load these models now (a worker process starting), so the first job does not wait for them. Returns
    why each model that could not be loaded failed, by key (empty when all loaded)."""
    from generation.registry import model_get

    failures = {}
    for key in model_keys:
        try:
            pipeline_get(model_get(key))
        except (ImproperlyConfigured, ModelUnavailable) as error:
            log.error("generation.preload_failed model=%s error=%s", key, error)
            failures[key] = str(error)
    return failures


def render(spec: ModelSpec, params: RenderParams, *, on_step: Callable[[int, int], None]) -> RenderResult:
    """Render ``params`` with ``spec``'s pipeline. ``on_step(done, total)`` runs after every
    denoising step and may raise RenderStopped to abort before the video is decoded."""
    import torch

    device, _ = _device_and_dtype()

    def step_end(pipe, step, timestep, callback_kwargs):
        on_step(step + 1, pipe.num_timesteps)
        return {}

    generator = torch.Generator(device="cpu").manual_seed(params.seed)
    started = time.perf_counter()
    prompts = {"prompt": params.prompt, "negative_prompt": params.negative_prompt or None}
    if params.mode == "text_to_video":
        pipeline, inputs = pipeline_get(spec), {}
    else:
        mode = spec.mode_get(params.mode)
        pipeline = mode_pipeline_get(spec, mode)
        inputs = _mode_inputs(params, mode.pipeline_class)
        if mode.pipeline_class in _PROMPTS_ENCODED_BY_BASE:
            prompts = _prompts_encoded(pipeline_get(spec), params, spec)
    if params.mode == "upscale":
        # No denoising: encode the source, upsample its latents 2x, decode.
        source = params.source_frames
        output = pipeline(
            video=inputs["video"], width=source.shape[2], height=source.shape[1], generator=generator, output_type="np"
        )
        on_step(1, 1)
    else:
        if "video" not in inputs:  # a video-to-video pipeline takes the length of the video it is given
            inputs["num_frames"] = params.num_frames
        output = pipeline(
            **prompts,
            width=params.width,
            height=params.height,
            num_inference_steps=params.num_steps,
            guidance_scale=params.guidance_scale,
            generator=generator,
            output_type="np",
            max_sequence_length=spec.max_sequence_length,
            callback_on_step_end=step_end,
            **inputs,
        )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return RenderResult(frames=output.frames[0], device_seconds=time.perf_counter() - started)


# WanImageToVideoPipeline cleans the prompt with ftfy whether it is installed or not (WanPipeline only where it
# is): the resident WanPipeline encodes the prompt instead, with the same text encoder and the same cleaning.
_PROMPTS_ENCODED_BY_BASE = {"WanImageToVideoPipeline"}


def _prompts_encoded(base, params: RenderParams, spec: ModelSpec) -> dict:
    """The prompt and negative prompt as the resident pipeline encodes them (prompt_embeds arguments)."""
    positive, negative = base.encode_prompt(
        params.prompt,
        params.negative_prompt or None,
        do_classifier_free_guidance=params.guidance_scale > 1,
        max_sequence_length=spec.max_sequence_length,
        device=base._execution_device,
    )
    return {"prompt_embeds": positive, "negative_prompt_embeds": negative}


def _mode_inputs(params: RenderParams, pipeline_class: str) -> dict:
    """The pipeline arguments that carry a mode's inputs."""
    from PIL import Image

    frames = [] if params.source_frames is None else [Image.fromarray(frame) for frame in params.source_frames]
    if params.mode == "image_to_video":
        return {"image": params.image}
    if params.mode == "keyframes" and pipeline_class == "WanImageToVideoPipeline":
        return {"image": params.image, "last_image": params.last_image}
    if params.mode == "keyframes":
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        return {
            "conditions": [
                LTXVideoCondition(image=params.image, frame_index=0),
                LTXVideoCondition(image=params.last_image, frame_index=params.num_frames - 1),
            ]
        }
    if params.mode == "extend":
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        from generation.extend import EXTEND_CONTEXT_FRAMES

        return {"conditions": [LTXVideoCondition(video=frames[-EXTEND_CONTEXT_FRAMES:], frame_index=0)]}
    if params.mode == "restyle":
        return {"video": frames, "strength": params.strength}
    if params.mode == "upscale":
        return {"video": frames}
    raise ValueError(f"Unknown mode {params.mode!r}.")
