"""Real-size checkpoints with random weights (generation/real_size.py): written in the hub's layout with
sharded weights and their index, loaded through the worker's own loading path, rendered, encoded and decoded.
CI writes the same layout with a tiny configuration; the real 2B (about 5.7 GB) is opt-in: build it with
`bench/real_size.py build` and set BACKLOT_REAL_LTX_FOLDER to its folder."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from generation import runner
from generation.encoding import decode_mp4, encode_mp4, frames_to_uint8
from generation.real_size import LTX_TRANSFORMER, LTX_VAE, write_ltx_video
from generation.registry import model_get

TINY_TRANSFORMER = {
    **LTX_TRANSFORMER,
    "in_channels": 8,
    "out_channels": 8,
    "num_attention_heads": 4,
    "attention_head_dim": 8,
    "cross_attention_dim": 32,
    "num_layers": 2,
    "caption_channels": 32,
}
TINY_VAE = {
    **LTX_VAE["0.9.1"],
    "latent_channels": 8,
    "block_out_channels": (8, 8, 8, 8),
    "decoder_block_out_channels": (8, 16, 32),  # the real ratios: each up block halves the channels
    "layers_per_block": (1, 1, 1, 1, 1),
    "decoder_layers_per_block": (1, 1, 1, 1),
}


@pytest.fixture
def fresh_pipelines():
    runner._pipelines.clear()
    yield
    runner._pipelines.clear()


def render_through_worker_path(settings, folder: Path, *, size: int, frames: int = 9, steps: int = 2):
    settings.BACKLOT_MODEL_SOURCES = {"ltx-video": str(folder)}
    settings.BACKLOT_VAE_TILING = True
    spec = model_get("ltx-video")
    params = runner.RenderParams("a red bird over water", "", frames, size, size, steps, 3.0, 7)
    done = []
    result = runner.render(spec, params, on_step=lambda step, total: done.append((step, total)))
    assert done == [(step, steps) for step in range(1, steps + 1)]
    assert np.isfinite(result.frames).all()
    decoded = decode_mp4(encode_mp4(frames_to_uint8(result.frames), fps=spec.fps))
    assert decoded.shape == (frames, size, size, 3)
    assert decoded.std() > 0, "a blank clip"
    return runner.pipeline_get(spec)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ltx-real-layout")
    write_ltx_video(folder, transformer=TINY_TRANSFORMER, vae=TINY_VAE, shard_bytes=16_000)
    return folder


def test_the_hub_layout_is_written_with_sharded_bf16_weights_and_their_index(tiny_folder):
    from safetensors import safe_open

    index = json.loads((tiny_folder / "model_index.json").read_text())
    assert index["_class_name"] == "LTXPipeline"
    assert {name for name in index if not name.startswith("_")} == {
        "scheduler",
        "text_encoder",
        "tokenizer",
        "transformer",
        "vae",
    }
    for component in ("transformer", "vae"):
        weight_map = json.loads(
            (tiny_folder / component / "diffusion_pytorch_model.safetensors.index.json").read_text()
        )["weight_map"]
        shards = sorted(set(weight_map.values()))
        assert len(shards) > 1 and shards[0].endswith(f"-00001-of-{len(shards):05d}.safetensors")
        for shard in shards:
            with safe_open(str(tiny_folder / component / shard), "pt") as handle:
                assert sorted(handle.keys()) == sorted(k for k, v in weight_map.items() if v == shard)
                assert {str(handle.get_slice(key).get_dtype()) for key in handle.keys()}  # noqa: SIM118 (safe_open has no __iter__) == {"BF16"}
    assert not (tiny_folder / "transformer" / "diffusion_pytorch_model.safetensors").exists()
    for path in tiny_folder.rglob("*"):  # a worker running as another user reads them
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644)


def test_the_worker_loads_the_layout_and_renders_a_clip_that_decodes(tiny_folder, settings, fresh_pipelines):
    pipeline = render_through_worker_path(settings, tiny_folder, size=64)

    assert pipeline.vae.use_tiling
    assert pipeline.transformer.config.num_layers == 2
    assert pipeline.vae.config.timestep_conditioning  # 0.9.1's decoder
    weight_map = json.loads(
        (tiny_folder / "transformer" / "diffusion_pytorch_model.safetensors.index.json").read_text()
    )["weight_map"]
    assert set(weight_map) == set(pipeline.transformer.state_dict())


def test_an_unknown_release_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="0.9.0, 0.9.1"):
        write_ltx_video(tmp_path / "ltx", version="9.9")
    assert not (tmp_path / "ltx").exists()


@pytest.mark.skipif(
    not os.environ.get("BACKLOT_REAL_LTX_FOLDER"),
    reason="the real 2B is opt-in: `bench/real_size.py build`, then BACKLOT_REAL_LTX_FOLDER=<its folder>",
)
def test_real_size_ltx_video_renders_on_the_cpu(settings, fresh_pipelines):
    folder = Path(os.environ["BACKLOT_REAL_LTX_FOLDER"])
    pipeline = render_through_worker_path(settings, folder, size=256)

    assert pipeline.transformer.config.num_layers == LTX_TRANSFORMER["num_layers"]
    assert sum(p.numel() for p in pipeline.transformer.parameters()) > 1.9e9
