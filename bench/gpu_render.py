"""LTX-Video on a GPU: raw diffusers against the platform's render loop, and each speed setting.

Builds the real LTX-Video 2B architecture from its default configs with random weights (no download:
for timing, the weights' values do not matter), in bf16, and renders 768x512, 121 frames, 40 steps with
guidance. For each setting it prints seconds per clip split into text encoding, denoising and decoding,
the peak GPU memory, the speed-up over raw diffusers defaults, and the PSNR of its fixed-seed output
against the default output. "platform" is the same render through generation.runner with the
platform's per-step callback writing progress to a job row, as a worker does.

    python bench/gpu_render.py                          # on a GPU host, every setting
    python bench/gpu_render.py --settings raw,platform,first-block
    python bench/gpu_render.py --smoke --frames 25 --width 256 --height 256 --steps 4   # a CPU check

Targets: platform <= 1.03 x raw; the fastest setting >= 1.5 x faster than raw, PSNR reported beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_setup, tester  # noqa: E402

SETTINGS = {
    "raw": {},
    "platform": {},
    "compile": {"compile": True},
    "first-block": {"cache": "first-block", "cache_threshold": 0.05},
    "pyramid": {"cache": "pyramid"},
    "faster": {"cache": "faster"},
    "taylorseer": {"cache": "taylorseer"},
    "compile+first-block": {"compile": True, "cache": "first-block", "cache_threshold": 0.05},
}
PROMPT = "a golden horse running through fresh snow at dawn, cinematic, slow motion"


def build_real_ltx(device: str, dtype):
    """LTXPipeline with the 2B transformer, the real VAE and a T5-XXL-sized encoder, weights random."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    from generation.smoke import build_tokenizer

    torch.manual_seed(0)
    with torch.device(device):
        transformer = LTXVideoTransformer3DModel().to(dtype)
        vae = AutoencoderKLLTXVideo().to(dtype)
        encoder = (
            T5EncoderModel(
                T5Config(
                    vocab_size=32128,
                    d_model=4096,
                    d_kv=64,
                    d_ff=10240,
                    num_layers=24,
                    num_heads=64,
                    feed_forward_proj="gated-gelu",
                    dropout_rate=0.0,
                )
            )
            .to(dtype)
            .eval()
        )
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024, max_image_seq_len=4096
    )
    return LTXPipeline(
        scheduler=scheduler, vae=vae, text_encoder=encoder, tokenizer=build_tokenizer(), transformer=transformer
    )


def build_smoke(device: str, dtype):
    from diffusers import LTXPipeline

    from generation.registry import model_get

    return LTXPipeline.from_pretrained(model_get("ltx-video").source(), dtype=dtype).to(device)


class PhaseTimer:
    """Seconds spent in the text encoder, the transformer and the VAE decoder, synchronised on CUDA."""

    def __init__(self, pipeline, device: str):
        self.seconds = {"text": 0.0, "denoise": 0.0, "decode": 0.0}
        self._sync = self._cuda_sync if device.startswith("cuda") else (lambda: None)
        self._hooks = []
        for phase, module in (("text", pipeline.text_encoder), ("denoise", pipeline.transformer)):
            self._hooks.append(module.register_forward_pre_hook(self._start))
            self._hooks.append(module.register_forward_hook(lambda *_, phase=phase: self._stop(phase)))
        self._decode, self._vae = pipeline.vae.decode, pipeline.vae

        def decode(*args, **kwargs):
            self._start()
            try:
                return self._decode(*args, **kwargs)
            finally:
                self._stop("decode")

        pipeline.vae.decode = decode

    @staticmethod
    def _cuda_sync():
        import torch

        torch.cuda.synchronize()

    def _start(self, *_):
        self._sync()
        self._began = time.perf_counter()

    def _stop(self, phase):
        self._sync()
        self.seconds[phase] += time.perf_counter() - self._began

    def close(self):
        for hook in self._hooks:
            hook.remove()
        self._vae.decode = self._decode


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def run(name: str, pipeline, args, device: str, platform_job=None):
    import torch

    from generation import runner
    from generation.registry import model_get

    params = runner.RenderParams(PROMPT, "", args.frames, args.width, args.height, args.steps, args.guidance, 42)
    spec = dataclasses.replace(model_get("ltx-video"), max_sequence_length=args.max_sequence_length)

    def raw_call(steps):
        return pipeline(
            prompt=params.prompt,
            num_frames=params.num_frames,
            width=params.width,
            height=params.height,
            num_inference_steps=steps,
            guidance_scale=params.guidance_scale,
            generator=torch.Generator("cpu").manual_seed(params.seed),
            output_type="np",
            max_sequence_length=spec.max_sequence_length,
        ).frames[0]

    def platform_call(steps):
        from generation import render

        runner._pipelines[spec.key] = pipeline

        def on_step(step, total):
            render.job_progress(job=platform_job, step=step, total=total)

        return runner.render(spec, dataclasses.replace(params, num_steps=steps), on_step=on_step).frames

    call = platform_call if name == "platform" else raw_call
    if args.warmup_steps:
        call(args.warmup_steps)  # compiles and caches kernels at the measured shapes
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    timer = PhaseTimer(pipeline, device)
    started = time.perf_counter()
    try:
        frames = call(args.steps)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    finally:
        timer.close()
    total = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    return total, timer.seconds, peak, frames


def platform_job(args):
    """A claimed job row for the platform's step callback to write progress to, as a worker's would."""
    from access.policy import current_grant
    from generation import queue
    from generation.models import RenderJob

    user, _ = tester()
    job = RenderJob.objects.create(
        owner=user,
        grant=current_grant(user),
        prompt=PROMPT,
        model_key="ltx-video",
        num_frames=args.frames,
        width=args.width,
        height=args.height,
        num_steps=args.steps,
        guidance_scale=args.guidance,
        seed=42,
    )
    return queue.job_claim(job_id=job.pk, worker="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated: " + ", ".join(SETTINGS))
    parser.add_argument("--smoke", action="store_true", help="the local smoke build instead of the 2B architecture")
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--max-sequence-length", type=int, default=128)
    parser.add_argument("--warmup-steps", type=int, default=2)
    args = parser.parse_args()
    names = [name.strip() for name in args.settings.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown settings: {', '.join(unknown)}")

    django_setup()
    import torch

    from generation.acceleration import Tuning, pipeline_tune

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    card = torch.cuda.get_device_name() if device == "cuda" else "no GPU"
    print(
        f"device {device} ({card}), dtype {dtype}, "
        f"{args.width}x{args.height}, {args.frames} frames, {args.steps} steps, guidance {args.guidance}"
    )
    print(
        f"{'setting':22} {'total s':>8} {'text':>7} {'denoise':>8} {'decode':>7} {'peak GiB':>9} "
        f"{'x raw':>6} {'PSNR dB':>8}"
    )
    baseline = reference = None
    for name in names:
        pipeline = (build_smoke if args.smoke else build_real_ltx)(device, dtype)
        pipeline.set_progress_bar_config(disable=True)
        pipeline_tune(pipeline, device=device, tuning=Tuning(**SETTINGS[name]))
        job = platform_job(args) if name == "platform" else None
        total, phases, peak, frames = run(name, pipeline, args, device, job)
        if baseline is None:
            baseline, reference = total, frames
        quality = psnr(frames, reference)
        print(
            f"{name:22} {total:8.2f} {phases['text']:7.2f} {phases['denoise']:8.2f} {phases['decode']:7.2f} "
            f"{peak:9.1f} {baseline / total:6.2f} {quality:8.1f}"
        )
        del pipeline
        if device == "cuda":
            torch.cuda.empty_cache()
        with contextlib.suppress(Exception):
            torch._dynamo.reset()


if __name__ == "__main__":
    main()
