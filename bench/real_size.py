"""LTX-Video 2B at its real size on the CPU: written with random weights in the hub's folder layout, loaded
through the worker's own loading path, rendered, encoded and decoded back.

`build` writes the folder (the published transformer and VAE configs, bf16, sharded transformer with its
index, a 1-layer T5 as wide as the transformer's caption_channels, the smoke tokenizer): about 5.7 GB for
0.9.1, one shard in memory at a time. `render` runs in its own process: settings.BACKLOT_MODEL_SOURCES
points ltx-video at the folder, generation.runner.pipeline_get loads it as a worker does (dtype, device and
VAE tiling from the settings), generation.runner.render renders, and the frames go through the platform's
H.264 encoder and are decoded back and checked. It prints the load time, the peak RSS, seconds per step, the
dtype and every file's size. No subcommand: build (if the folder lacks model_index.json), then render.

    .venv/bin/python bench/real_size.py                       # var/models/real/ltx-video, 256x256, 9 frames, 2 steps
    .venv/bin/python bench/real_size.py build --version 0.9.0 --folder /data/ltx-0.9.0
    .venv/bin/python bench/real_size.py render --dtype float32 --no-vae-tiling
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = ROOT / "var" / "models" / "real" / "ltx-video"
PROMPT = "a golden horse running through fresh snow at dawn, cinematic, slow motion"


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kilobytes on Linux


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def build(args) -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    sys.path.insert(0, str(ROOT))
    import torch

    from generation.real_size import folder_files, write_ltx_video

    folder = Path(args.folder)
    print(f"writing LTX-Video 2B {args.version} (random weights, bf16) to {folder}; load {load_average()}")
    started = time.perf_counter()
    written = write_ltx_video(folder, version=args.version, dtype=torch.bfloat16, shard_bytes=args.shard_gib * 2**30)
    seconds = time.perf_counter() - started
    for name, answer in written.items():
        print(f"  {name:12} {answer['parameters'] / 1e9:6.3f} B parameters, {answer['bytes'] / 2**30:5.2f} GiB")
    print_files(folder, folder_files(folder))
    print(f"written in {seconds:.1f} s, peak RSS {peak_rss_gib():.2f} GiB; load {load_average()}")


def print_files(folder: Path, files) -> None:
    total = sum(size for _, size in files)
    print(f"files in {folder} ({total / 2**30:.2f} GiB):")
    for name, size in files:
        shown = f"{size / 2**20:9.1f} MiB" if size >= 2**20 else f"{size / 2**10:9.1f} KiB"
        print(f"  {shown}  {name}")


def render(args) -> None:
    folder = Path(args.folder).resolve()
    if not (folder / "model_index.json").exists():
        sys.exit(f"{folder} holds no model; run `bench/real_size.py build --folder {folder}` first.")
    os.environ["BACKLOT_MODEL_SOURCES"] = f"ltx-video={folder}"
    os.environ["BACKLOT_DEVICE"] = "cpu"
    os.environ["BACKLOT_TORCH_DTYPE"] = args.dtype
    os.environ["BACKLOT_VAE_TILING"] = "0" if args.no_vae_tiling else "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _setup import django_setup

    django_setup()
    import numpy as np
    import torch

    from generation import runner
    from generation.encoding import decode_mp4, encode_mp4, frames_to_uint8
    from generation.registry import model_get

    spec = model_get("ltx-video")
    errors = spec.validate(
        num_frames=args.frames, width=args.width, height=args.height, num_steps=args.steps, guidance_scale=args.guidance
    )
    if errors:
        sys.exit("; ".join(errors.values()))
    print(f"loading {spec.source()} through generation.runner.pipeline_get; load {load_average()}")
    rss_before = peak_rss_gib()
    started = time.perf_counter()
    pipeline = runner.pipeline_get(spec)
    load_seconds = time.perf_counter() - started
    print(
        f"loaded in {load_seconds:.1f} s; transformer {pipeline.transformer.dtype} on {pipeline.transformer.device}, "
        f"VAE {pipeline.vae.dtype} tiling={pipeline.vae.use_tiling}; peak RSS {peak_rss_gib():.2f} GiB "
        f"(before loading {rss_before:.2f})"
    )
    stamps = []

    def on_step(done, total):
        stamps.append(time.perf_counter())
        print(f"  step {done}/{total} at {stamps[-1] - started:.1f} s", flush=True)

    params = runner.RenderParams(PROMPT, "", args.frames, args.width, args.height, args.steps, args.guidance, seed=42)
    started = time.perf_counter()
    result = runner.render(spec, params, on_step=on_step)
    render_seconds = time.perf_counter() - started
    frames = result.frames
    if not np.isfinite(frames).all():
        sys.exit(f"the render has non-finite values ({np.isnan(frames).sum()} NaN)")
    steps = np.diff([started, *stamps])
    first_step, later = steps[0], steps[1:]  # the first includes encoding the prompt
    decode_seconds = render_seconds - (stamps[-1] - started)
    started = time.perf_counter()
    data = encode_mp4(frames_to_uint8(frames), fps=spec.fps)
    encode_seconds = time.perf_counter() - started
    decoded = decode_mp4(data)
    expected = (args.frames, args.height, args.width, 3)
    if decoded.shape != expected:
        sys.exit(f"decoded {decoded.shape}, expected {expected}")
    spread = float(decoded.std())
    print(
        f"render {args.width}x{args.height}, {args.frames} frames, {args.steps} steps, guidance {args.guidance}: "
        f"{render_seconds:.1f} s in all"
    )
    print(f"  first step (with prompt encoding) {first_step:.1f} s", end="")
    print(f", later steps {np.mean(later):.1f} s each" if len(later) else "", end="")
    print(f"; VAE decode {decode_seconds:.1f} s; H.264 encode {encode_seconds:.2f} s")
    print(f"  dtype {pipeline.transformer.dtype}, {runner.device_label()}, torch threads {torch.get_num_threads()}")
    print(f"  MP4 {len(data) / 2**10:.1f} KiB decoded back to {decoded.shape}, pixel std {spread:.1f} (0 = blank)")
    print(f"peak RSS {peak_rss_gib():.2f} GiB; load {load_average()}")
    if spread == 0:
        sys.exit("every decoded pixel is the same: the render is blank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=("build", "render"), help="default: build if missing, render")
    parser.add_argument("--folder", default=str(DEFAULT_FOLDER))
    parser.add_argument("--version", default="0.9.1", choices=("0.9.0", "0.9.1"), help="the VAE's release (build)")
    parser.add_argument("--shard-gib", type=float, default=2.0, help="largest weight shard (build)")
    parser.add_argument("--dtype", default="auto", help="BACKLOT_TORCH_DTYPE for the render (auto: float32 on a CPU)")
    parser.add_argument("--no-vae-tiling", action="store_true", help="render with BACKLOT_VAE_TILING=0")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--guidance", type=float, default=3.0)
    args = parser.parse_args()
    if args.command == "build":
        build(args)
    elif args.command == "render":
        render(args)
    else:
        if not (Path(args.folder) / "model_index.json").exists():
            build(args)
        # A process of its own, so that its peak RSS is the worker's, not the build's.
        forwarded = [arg for arg in sys.argv[1:] if arg not in ("build", "render")]
        sys.exit(subprocess.call([sys.executable, __file__, "render", *forwarded]))


if __name__ == "__main__":
    main()
