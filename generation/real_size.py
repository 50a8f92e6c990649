"""Real-size checkpoints with random weights, in the hub's folder layout, for proving the real-size path
(folder layout, sharded weights, memory, dtype, VAE tiling) without a download and without a GPU.

LTX-Video 2B is written as Lightricks publishes it for diffusers: model_index.json and one folder per
component, the transformer's weights sharded with a ``diffusion_pytorch_model.safetensors.index.json``.
The transformer and the VAE have the published configurations; only the text encoder is small (a 1-layer
T5 as wide as the transformer's ``caption_channels``), with the smoke build's fixed tokenizer. Weights are
drawn shard by shard straight into the file's dtype from a model built on the ``meta`` device: at most one
shard is ever in memory, never a whole model or a second copy of it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

SEED = 0
SHARD_BYTES = 2 * 2**30  # the hub's LTX-Video transformer ships in shards of about this size
WEIGHTS_NAME = "diffusion_pytorch_model"

# LTX-Video 2B's transformer (Lightricks/LTX-Video, transformer/config.json; the same for 0.9.0 to 0.9.5).
LTX_TRANSFORMER = {
    "in_channels": 128,
    "out_channels": 128,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 32,
    "attention_head_dim": 64,
    "cross_attention_dim": 2048,
    "num_layers": 28,
    "activation_fn": "gelu-approximate",
    "qk_norm": "rms_norm_across_heads",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-6,
    "caption_channels": 4096,
    "attention_bias": True,
    "attention_out_bias": True,
}

# The VAE of each 2B release (diffusers' scripts/convert_ltx_to_diffusers.py, get_vae_config): 0.9.1 widened
# the decoder, conditions it on the timestep and injects noise; 0.9.0's decoder mirrors the encoder.
_LTX_VAE_COMMON = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 128,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": (4, 3, 3, 3, 4),
    "spatio_temporal_scaling": (True, True, True, False),
    "patch_size": 4,
    "patch_size_t": 1,
    "resnet_norm_eps": 1e-6,
    "scaling_factor": 1.0,
    "encoder_causal": True,
    "decoder_causal": False,
}
LTX_VAE = {
    "0.9.0": {
        **_LTX_VAE_COMMON,
        "decoder_block_out_channels": (128, 256, 512, 512),
        "decoder_layers_per_block": (4, 3, 3, 3, 4),
        "decoder_spatio_temporal_scaling": (True, True, True, False),
        "decoder_inject_noise": (False, False, False, False, False),
        "upsample_residual": (False, False, False, False),
        "upsample_factor": (1, 1, 1, 1),
        "timestep_conditioning": False,
    },
    "0.9.1": {
        **_LTX_VAE_COMMON,
        "decoder_block_out_channels": (256, 512, 1024),
        "decoder_layers_per_block": (5, 6, 7, 8),
        "decoder_spatio_temporal_scaling": (True, True, True),
        "decoder_inject_noise": (False, True, True, True),
        "upsample_residual": (True, True, True),
        "upsample_factor": (2, 2, 2),
        "timestep_conditioning": True,
    },
}
LTX_VERSIONS = tuple(LTX_VAE)

# The published scheduler/scheduler_config.json.
LTX_SCHEDULER = {
    "use_dynamic_shifting": True,
    "base_shift": 0.95,
    "max_shift": 2.05,
    "base_image_seq_len": 1024,
    "max_image_seq_len": 4096,
    "shift_terminal": 0.1,
}

# The small text encoder: as wide as caption_channels (the transformer projects from it), otherwise tiny.
TEXT_ENCODER = {"num_layers": 1, "num_heads": 4, "d_kv": 16, "d_ff": 256, "relative_attention_num_buckets": 8}


def _random_tensor(name: str, shape: tuple[int, ...], dtype, generator):
    """A weight drawn so that activations stay of order one through many layers: norms' scales 1, biases and
    the VAE's latent means 0, its latent standard deviations 1, other matrices N(0, 1/fan_in)."""
    import torch

    leaf = name.rsplit(".", 1)[-1]
    if leaf == "bias" or name.endswith("latents_mean"):
        return torch.zeros(shape, dtype=dtype)
    if name.endswith("latents_std") or (len(shape) <= 1 and ("norm" in name or "scale" in leaf)):
        return torch.ones(shape, dtype=dtype)
    fan_in = math.prod(shape[1:]) if len(shape) > 1 else max(1, shape[0] if shape else 1)
    values = torch.randn(shape, generator=generator, dtype=torch.float32)
    return values.mul_(1.0 / math.sqrt(fan_in)).to(dtype)


def _chmod_readable(folder: Path) -> None:
    # safetensors writes 0600 files; a worker running as another user must be able to read them.
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def write_random_model(model_class, config: dict, folder: Path, *, dtype, shard_bytes: int = SHARD_BYTES) -> dict:
    """Write ``model_class(**config)`` with random weights to ``folder`` as ``save_pretrained`` would lay it
    out (config.json, then one safetensors file, or shards and their index past ``shard_bytes``), one shard in
    memory at a time. Returns {"files": [paths], "bytes": total weight bytes, "parameters": count}."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    with torch.device("meta"):
        model = model_class(**config)
    model.save_config(folder)
    itemsize = torch.empty((), dtype=dtype).element_size()
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    del model
    shards: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():
        nbytes = math.prod(shape) * itemsize
        if shards[-1] and size + nbytes > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    count = len(shards)
    names = (
        [f"{WEIGHTS_NAME}.safetensors"]
        if count == 1
        else [f"{WEIGHTS_NAME}-{index:05d}-of-{count:05d}.safetensors" for index in range(1, count + 1)]
    )
    generator = torch.Generator().manual_seed(SEED)
    weight_map, files = {}, []
    for file_name, shard in zip(names, shards, strict=True):
        tensors = {name: _random_tensor(name, shapes[name], dtype, generator) for name in shard}
        save_file(tensors, str(folder / file_name), metadata={"format": "pt"})
        del tensors
        weight_map.update(dict.fromkeys(shard, file_name))
        files.append(folder / file_name)
    total = sum(math.prod(shape) for shape in shapes.values())
    if count > 1:
        index = {"metadata": {"total_size": total * itemsize}, "weight_map": weight_map}
        (folder / f"{WEIGHTS_NAME}.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True))
    return {"files": files, "bytes": total * itemsize, "parameters": total}


def write_ltx_video(
    folder: Path,
    *,
    version: str = "0.9.1",
    dtype=None,
    shard_bytes: int = SHARD_BYTES,
    transformer: dict | None = None,
    vae: dict | None = None,
) -> dict:
    """Write LTX-Video 2B (``version``'s VAE) with random weights in bf16 (or ``dtype``) to ``folder`` in the
    hub's layout; ``transformer`` and ``vae`` override the published configs (the tests write a tiny one
    through the same code). Returns {component: write_random_model's answer} for the two large components."""
    import diffusers
    import torch
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    from generation.smoke import build_tokenizer

    if version not in LTX_VAE:
        raise ValueError(f"No LTX-Video {version!r}; choose one of {', '.join(LTX_VERSIONS)}.")
    dtype = dtype or torch.bfloat16
    transformer_config = transformer or LTX_TRANSFORMER
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "transformer": write_random_model(
            LTXVideoTransformer3DModel, transformer_config, folder / "transformer", dtype=dtype, shard_bytes=shard_bytes
        ),
        "vae": write_random_model(
            AutoencoderKLLTXVideo, vae or LTX_VAE[version], folder / "vae", dtype=dtype, shard_bytes=shard_bytes
        ),
    }
    FlowMatchEulerDiscreteScheduler(**LTX_SCHEDULER).save_pretrained(folder / "scheduler")
    tokenizer = build_tokenizer(model_max_length=128)
    tokenizer.save_pretrained(folder / "tokenizer")
    torch.manual_seed(SEED)
    encoder = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer), d_model=transformer_config["caption_channels"], dropout_rate=0.0, **TEXT_ENCODER
        )
    ).eval()
    encoder.to(dtype).save_pretrained(folder / "text_encoder")
    index = {
        "_class_name": "LTXPipeline",
        "_diffusers_version": diffusers.__version__,
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", type(tokenizer).__name__],
        "transformer": ["diffusers", "LTXVideoTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLLTXVideo"],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    _chmod_readable(folder)
    return written


def folder_files(folder: Path) -> list[tuple[str, int]]:
    """(path relative to ``folder``, bytes) of every file in it, sorted."""
    return sorted((str(path.relative_to(folder)), path.stat().st_size) for path in folder.rglob("*") if path.is_file())
