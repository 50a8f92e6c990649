"""Every model in the registry, through its smoke build: built the same twice, loaded by its own
pipeline class, rendered through the real path (job row, worker render, H.264, storage), and refused
settings off its rules before anything is queued."""

import hashlib
import json

import numpy as np
import pytest

from generation import render, runner
from generation.encoding import probe_mp4
from generation.models import RenderJob
from generation.registry import MODELS
from generation.smoke import LAYOUT_BUILDS, smoke_build
from tests.factories import RenderJobFactory
from tests.generation.conftest import serving

KEYS = list(MODELS)
# Mochi's rotary embedding asks for float32 autocast, which CPUs lack; harmless, and only on CPUs.
pytestmark = pytest.mark.filterwarnings("ignore:In CPU autocast:UserWarning")


def _digest(folder):
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _small(spec, *, steps=2):
    """Small settings on the model's rules, not square, so that a swapped width and height would show."""
    # The smallest side any model renders (128, the mark's tile), in multiples of 64 (Pyramid Flow's: 8x VAE, two
    # halvings, 2x2 patches), which are every other model's multiples too.
    width, height = 192, 128
    return {
        "num_frames": 2 * spec.frame_step + 1,
        "width": width,
        "height": height,
        "num_steps": max(steps, spec.min_steps),
        "guidance_scale": spec.default_guidance,
    }


@pytest.fixture(scope="session")
def smoke_models(tmp_path_factory):
    """A models folder holding every registry model's smoke build, made once per test session."""
    models_dir = tmp_path_factory.mktemp("models")
    for key in MODELS:
        smoke_build(model_key=key, folder=models_dir / "smoke" / key)
    return models_dir


@pytest.fixture
def served(settings, smoke_models):
    """Workers in this test load the session's smoke builds, and no pipeline outlives the test."""
    yield from serving(settings, smoke_models)


@pytest.mark.parametrize("key", KEYS)
def test_the_smoke_build_is_byte_identical_every_time(key, smoke_models, tmp_path):
    first = smoke_models / "smoke" / key
    again = smoke_build(model_key=key, folder=tmp_path / key)

    digests = _digest(first)
    assert digests == _digest(again)
    assert all(oct(path.stat().st_mode)[-3:] == "644" for path in first.rglob("*") if path.is_file())
    if key in LAYOUT_BUILDS:  # Pyramid Flow: the published folder layout, no model_index.json
        assert {f"{name}/config.json" for name in LAYOUT_BUILDS[key]} <= set(digests)
        assert "diffusion_transformer_768p/diffusion_pytorch_model.safetensors" in digests
        assert "model_index.json" not in digests
        return
    assert "transformer/diffusion_pytorch_model.safetensors" in digests
    assert "vae/diffusion_pytorch_model.safetensors" in digests
    index = json.loads((first / "model_index.json").read_text())
    assert index["_class_name"] == MODELS[key].pipeline_class


@pytest.mark.parametrize("key", KEYS)
def test_the_smoke_build_loads_with_its_pipeline_and_fits_the_registry(key, smoke_models):
    spec = MODELS[key]
    pipeline_class = runner.pipeline_class_get(spec.pipeline_class)
    pipeline = pipeline_class.from_pretrained(smoke_models / "smoke" / key, **dict(spec.load_options))

    assert type(pipeline) is pipeline_class
    assert not pipeline.text_encoder.training
    ids = pipeline.tokenizer("A cat, 3 dogs & a zebra!")["input_ids"]
    # (CLIP's unknown token is its end token: only the last id may be it.)
    assert pipeline.tokenizer.unk_token_id not in ids[:-1] and ids[-1] == pipeline.tokenizer.eos_token_id
    config = pipeline.transformer.config
    if "max_text_seq_length" in config:  # CogVideoX: the prompt must be padded to exactly this length
        assert spec.max_sequence_length == config.max_text_seq_length
    if "rope_max_seq_len" in config:  # Wan: the rotary table must cover the largest patched latent dimension
        largest_side = max(spec.max_width, spec.max_height) // spec.size_multiple  # 8x VAE, 2x2 patches
        assert config.rope_max_seq_len >= max(largest_side, spec.max_frames)


@pytest.mark.parametrize("key", KEYS)
def test_a_job_renders_to_a_playable_mp4_of_the_size_asked(key, served, tester):
    spec = MODELS[key]
    small = _small(spec)
    assert spec.validate(**small) == {}
    job = RenderJobFactory(owner=tester, model_key=key, **small)

    rendered = render.job_render(job_id=job.pk, worker="test")

    job.refresh_from_db()
    assert rendered.pk == job.pk
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    steps = spec.denoising_steps(num_frames=job.num_frames, num_steps=job.num_steps)
    assert (job.progress_step, job.progress_total) == (steps, steps)
    with job.output.open("rb") as clip:
        video = probe_mp4(clip.read())
    assert video == {
        "codec": "h264",
        "width": job.width,
        "height": job.height,
        "frames": job.num_frames,
        "fps": float(spec.fps),
    }


@pytest.mark.parametrize("key", KEYS)
def test_the_same_seed_gives_the_same_frames(key, served):
    spec = MODELS[key]
    small = _small(spec)
    params = runner.RenderParams(
        "a red bird", "", small["num_frames"], small["width"], small["height"], small["num_steps"], 5.0, 1234
    )

    first = runner.render(spec, params, on_step=lambda *_: None).frames
    second = runner.render(spec, params, on_step=lambda *_: None).frames
    other = runner.render(spec, params.__class__(**{**params.__dict__, "seed": 1235}), on_step=lambda *_: None)

    assert first.shape == (params.num_frames, params.height, params.width, 3)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other.frames)


@pytest.mark.parametrize("key", KEYS)
def test_the_defaults_and_the_hinted_frame_counts_are_valid(key):
    spec = MODELS[key]
    assert spec.validate(**spec.default_settings()) == {}
    hinted = spec.frame_counts_hint().split("e.g. ")[1].rstrip(")").split(", ")
    for count in hinted:
        assert spec.validate(**{**spec.default_settings(), "num_frames": int(count)}) == {}


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("off_by", ["one", "half a step"])
def test_frame_counts_off_the_models_rule_are_refused(key, off_by):
    spec = MODELS[key]
    frames = spec.default_frames - (1 if off_by == "one" else spec.frame_step // 2)

    errors = spec.validate(**{**spec.default_settings(), "num_frames": frames})

    assert list(errors) == ["num_frames"]
    assert f"{spec.frame_step}k+1" in errors["num_frames"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("field", ["width", "height"])
def test_sizes_off_the_models_multiple_are_refused(key, field):
    # Half the multiple off: for CogVideoX and Mochi, a multiple of 8 that passes the pipeline's own
    # check and then crashes inside the transformer.
    spec = MODELS[key]
    settings = spec.default_settings()
    settings[field] -= spec.size_multiple // 2

    errors = spec.validate(**settings)

    assert list(errors) == [field]
    assert f"multiple of {spec.size_multiple}" in errors[field]


@pytest.mark.parametrize("key", KEYS)
def test_steps_below_the_models_fewest_are_refused(key):
    spec = MODELS[key]
    settings = spec.default_settings()

    assert list(spec.validate(**{**settings, "num_steps": spec.min_steps - 1})) == ["num_steps"]
    assert spec.validate(**{**settings, "num_steps": spec.min_steps}) == {}


def test_mochi_needs_two_steps():
    # Its sigma schedule divides by steps // 2: one step raises ZeroDivisionError inside the pipeline.
    assert MODELS["mochi-1"].min_steps == 2
    assert "num_steps" in MODELS["mochi-1"].validate(**{**MODELS["mochi-1"].default_settings(), "num_steps": 1})
