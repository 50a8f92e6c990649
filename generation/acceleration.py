"""How a worker places and speeds up a loaded pipeline: device, VAE tiling, CPU offload for small
cards, torch.compile and diffusers' cache accelerations. Each is a setting; a worker applies them once,
when it loads the model, and keeps the tuned pipeline resident."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)

OFFLOAD_CHOICES = ("none", "model", "sequential")
CACHE_CHOICES = ("none", "first-block", "pyramid", "faster", "taylorseer")


class TuningError(Exception):
    """A setting the pipeline or the device cannot honour; the worker says so instead of rendering."""


@dataclass(frozen=True)
class Tuning:
    vae_tiling: bool = False
    cpu_offload: str = "none"
    compile: bool = False
    compile_mode: str = "default"
    cache: str = "none"
    cache_threshold: float = 0.05

    @classmethod
    def from_settings(cls) -> Tuning:
        tuning = cls(
            vae_tiling=settings.BACKLOT_VAE_TILING,
            cpu_offload=settings.BACKLOT_CPU_OFFLOAD,
            compile=settings.BACKLOT_TORCH_COMPILE,
            compile_mode=settings.BACKLOT_TORCH_COMPILE_MODE,
            cache=settings.BACKLOT_CACHE,
            cache_threshold=settings.BACKLOT_CACHE_THRESHOLD,
        )
        tuning.check()
        return tuning

    def check(self) -> None:
        if self.cpu_offload not in OFFLOAD_CHOICES:
            choices = ", ".join(OFFLOAD_CHOICES)
            raise TuningError(f"BACKLOT_CPU_OFFLOAD must be one of {choices}, not {self.cpu_offload!r}.")
        if self.cache not in CACHE_CHOICES:
            raise TuningError(f"BACKLOT_CACHE must be one of {', '.join(CACHE_CHOICES)}, not {self.cache!r}.")
        if not 0 < self.cache_threshold < 1:
            raise TuningError("BACKLOT_CACHE_THRESHOLD must be between 0 and 1.")

    def describe(self) -> str:
        parts = [f"offload={self.cpu_offload}", f"vae_tiling={self.vae_tiling}", f"cache={self.cache}"]
        parts.append(f"compile={self.compile_mode if self.compile else 'off'}")
        return " ".join(parts)


def _cache_config(name: str, threshold: float, pipeline):
    import diffusers

    if name == "first-block":
        return diffusers.FirstBlockCacheConfig(threshold=threshold)
    if name == "pyramid":
        return diffusers.PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(100, 800),
            current_timestep_callback=lambda: pipeline.current_timestep,
        )
    if name == "faster":
        return diffusers.FasterCacheConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(-1, 681),
            current_timestep_callback=lambda: pipeline.current_timestep,
            attention_weight_callback=lambda _: 0.3,
            is_guidance_distilled=True,  # skip the unconditional-branch trick: not every pipeline batches CFG alike
        )
    return diffusers.TaylorSeerCacheConfig()


def pipeline_tune(pipeline, *, device: str, tuning: Tuning):
    """Place ``pipeline`` on ``device`` with ``tuning`` applied; returns the pipeline."""
    on_gpu = device.startswith("cuda")
    if tuning.cpu_offload != "none" and not on_gpu:
        raise TuningError("CPU offload moves weights between a GPU and the CPU; this worker has no GPU.")
    if tuning.cpu_offload == "model":
        pipeline.enable_model_cpu_offload(device=device)
    elif tuning.cpu_offload == "sequential":
        pipeline.enable_sequential_cpu_offload(device=device)
    else:
        pipeline.to(device)

    if tuning.vae_tiling:
        vae = getattr(pipeline, "vae", None)
        if vae is None or not hasattr(vae, "enable_tiling"):
            raise TuningError(f"{type(pipeline).__name__}'s VAE cannot decode in tiles.")
        vae.enable_tiling()

    denoiser = getattr(pipeline, "transformer", None)
    if tuning.cache != "none":
        if denoiser is None or not hasattr(denoiser, "enable_cache"):
            raise TuningError(f"{type(pipeline).__name__} supports no diffusers cache acceleration.")
        try:
            denoiser.enable_cache(_cache_config(tuning.cache, tuning.cache_threshold, pipeline))
        except (ValueError, TypeError) as error:
            raise TuningError(f"{type(pipeline).__name__} cannot use the {tuning.cache} cache: {error}") from error

    if tuning.compile:
        if denoiser is None:
            raise TuningError(f"{type(pipeline).__name__} has no transformer to compile.")
        # In place, so hooks (progress callbacks, caches) and attribute access keep working.
        denoiser.compile(mode=tuning.compile_mode, fullgraph=False, dynamic=False)
    log.info("generation.pipeline_tuned pipeline=%s device=%s %s", type(pipeline).__name__, device, tuning.describe())
    return pipeline
