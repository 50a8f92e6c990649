"""Pyramid Flow (generation/pipelines/pyramid_flow.py) on its smoke build, in the published folder layout:
loading, the clear failure of a folder missing a component or with mismatched configs (the job fails with the
reason), progress over every step of every stage of every frame, cancel at the next step, image to video.
Parity with the reference implementation is measured outside the suite (docs/operators/gpu-fleet.md, Pyramid Flow)."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from generation import render, runner
from generation.models import RenderJob, Worker
from generation.pipelines.pyramid_flow import PyramidFlowError, PyramidFlowPipeline, _block_noise_tril, block_noise
from generation.pipelines.pyramid_flow_transformer import PyramidFlowTransformer
from generation.queue import MAX_ATTEMPTS
from generation.registry import IMAGE_TO_VIDEO, MODELS
from generation.smoke import build_text_encoder, smoke_build
from tests.factories import RenderJobFactory
from tests.generation.conftest import serving

SPEC = MODELS["pyramid-flow"]
SMALL = {"num_frames": 17, "width": 192, "height": 128, "num_steps": 2, "guidance_scale": 7.0}


@pytest.fixture(scope="module")
def pyramid_smoke(tmp_path_factory):
    models_dir = tmp_path_factory.mktemp("models")
    smoke_build(model_key="pyramid-flow", folder=models_dir / "smoke" / "pyramid-flow")
    return models_dir


@pytest.fixture
def served(settings, pyramid_smoke):
    yield from serving(settings, pyramid_smoke)


@pytest.fixture
def damaged(settings, pyramid_smoke, tmp_path):
    """A copy of the smoke checkpoint that the test may damage, configured as the model's source."""
    folder = tmp_path / "pyramid"
    shutil.copytree(pyramid_smoke / "smoke" / "pyramid-flow", folder)
    settings.BACKLOT_MODEL_SOURCES = {"pyramid-flow": str(folder)}
    runner._pipelines.clear()
    yield folder
    runner._pipelines.clear()


def _params(**changes):
    fields = {"prompt": "a red bird", "negative_prompt": "", **SMALL, "seed": 7} | changes
    return runner.RenderParams(**fields)


def _failed_job(tester):
    """A job rendered by workers that cannot load the model: each one marks itself unhealthy with the reason
    and gives the job back (generation/health.py), until MAX_ATTEMPTS workers have failed on it and the job
    fails with the reason. Nothing hangs."""
    job = RenderJobFactory(owner=tester, model_key="pyramid-flow", **SMALL)
    for attempt in range(MAX_ATTEMPTS):
        render.job_render(job_id=job.pk, worker=f"test-{attempt}")
        worker = Worker.objects.get(hostname=f"test-{attempt}")
        assert worker.unhealthy_since is not None
        assert "Could not load Pyramid Flow 384p" in worker.health_reason
    job.refresh_from_db()
    return job


pytestmark = pytest.mark.django_db


def test_the_smoke_build_has_the_published_layout_and_loads_both_variants(pyramid_smoke):
    folder = pyramid_smoke / "smoke" / "pyramid-flow"
    assert sorted(path.name for path in folder.iterdir()) == [
        "causal_video_vae",
        "diffusion_transformer_384p",
        "diffusion_transformer_768p",
        "text_encoder",
        "text_encoder_2",
        "tokenizer",
        "tokenizer_2",
    ]
    for variant in ("diffusion_transformer_384p", "diffusion_transformer_768p"):
        pipeline = PyramidFlowPipeline.from_pretrained(folder, variant=variant)
        assert isinstance(pipeline.transformer, PyramidFlowTransformer)
        assert not pipeline.transformer.training and not pipeline.text_encoder_2.training
    with pytest.raises(PyramidFlowError, match="Unknown variant"):
        PyramidFlowPipeline.from_pretrained(folder, variant="diffusion_transformer_image")


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ("text_encoder_2", "text_encoder_2/ (the T5 text encoder)"),
        ("causal_video_vae", "causal_video_vae/ (the causal video VAE)"),
        ("diffusion_transformer_384p", "diffusion_transformer_384p/config.json (the diffusion transformer)"),
    ],
)
def test_a_folder_missing_a_component_fails_the_job_with_the_reason(missing, reason, damaged, tester):
    shutil.rmtree(damaged / missing)

    job = _failed_job(tester)

    assert job.state == RenderJob.State.FAILED
    assert f"Could not load Pyramid Flow 384p from {damaged}" in job.error
    assert reason in job.error
    assert not job.output


def test_a_text_encoder_that_does_not_fit_the_transformer_fails_the_job_with_the_reason(damaged, tester):
    # A T5 of another width: every file loads, but the transformer's joint_attention_dim is 32.
    shutil.rmtree(damaged / "text_encoder_2")
    encoder = build_text_encoder(200)
    wider = type(encoder)(encoder.config.__class__(**{**encoder.config.to_dict(), "d_model": 48}))
    wider.save_pretrained(damaged / "text_encoder_2")

    job = _failed_job(tester)

    assert job.state == RenderJob.State.FAILED
    assert "Mismatched Pyramid Flow configs" in job.error
    assert "joint_attention_dim is 32 but the T5 encoder's d_model is 48" in job.error


def test_a_config_that_does_not_match_its_weights_fails_the_job_with_the_reason(damaged, tester):
    config_path = damaged / "causal_video_vae" / "config.json"
    config = json.loads(config_path.read_text())
    config["encoder_out_channels"] = 8
    config_path.write_text(json.dumps(config))

    job = _failed_job(tester)

    assert job.state == RenderJob.State.FAILED
    assert f"Could not load Pyramid Flow 384p from {damaged}" in job.error
    assert "size" in job.error.lower()


def test_a_transformer_config_off_the_rotary_layout_is_refused():
    with pytest.raises(ValueError, match="attention_head_dim must be 64"):
        PyramidFlowTransformer(attention_head_dim=32, num_attention_heads=1, num_layers=1, num_single_layers=1)


def test_progress_counts_every_step_of_every_stage_of_every_frame(served):
    steps = []

    result = runner.render(SPEC, _params(), on_step=lambda done, total: steps.append((done, total)))

    # 17 frames = 3 latent frames: the first 3 stages x 2 steps, the other two 3 stages x 1 step each.
    assert SPEC.denoising_steps(num_frames=17, num_steps=2) == 12
    assert steps == [(done, 12) for done in range(1, 13)]
    assert result.frames.shape == (17, 128, 192, 3)
    assert result.frames.std() > 0.01


def test_image_to_video_starts_from_the_image_and_counts_only_the_frames_it_generates(served):
    image = Image.new("RGB", (192, 128), (230, 30, 30))
    steps = []

    result = runner.render(
        SPEC, _params(mode=IMAGE_TO_VIDEO, image=image), on_step=lambda done, total: steps.append((done, total))
    )

    total = SPEC.denoising_steps(num_frames=17, num_steps=2, mode=IMAGE_TO_VIDEO)
    assert total == 6 and steps == [(done, 6) for done in range(1, 7)]
    assert result.frames.shape == (17, 128, 192, 3)
    text = runner.render(SPEC, _params(), on_step=lambda *_: None)
    assert not np.array_equal(result.frames, text.frames)


def test_a_stop_at_a_step_aborts_before_decoding_and_leaves_the_pipeline_reusable(served):
    seen = []

    def stop_at_five(done, total):
        seen.append(done)
        if done == 5:
            raise runner.RenderStopped("The job was cancelled.")

    with pytest.raises(runner.RenderStopped):
        runner.render(SPEC, _params(), on_step=stop_at_five)

    assert seen == [1, 2, 3, 4, 5]
    first = runner.render(SPEC, _params(), on_step=lambda *_: None).frames
    runner._pipelines.clear()
    fresh = runner.render(SPEC, _params(), on_step=lambda *_: None).frames
    assert np.array_equal(first, fresh)


def test_the_block_noise_sums_to_zero_in_each_block_with_unit_variance():
    # Covariance (1 + 1/3) I - 1/3: singular, which torch.distributions refuses; its factor is built by hand.
    tril = _block_noise_tril(1 / 3)
    covariance = tril @ tril.T
    expected = torch.eye(4) * (4 / 3) - torch.ones(4, 4) / 3
    assert torch.allclose(covariance, expected, atol=1e-6)
    noise = block_noise((1, 2, 1, 8, 8), 1 / 3, torch.Generator().manual_seed(0))
    blocks = noise.reshape(1, 2, 1, 4, 2, 4, 2).sum(dim=(4, 6))
    assert blocks.abs().max() < 1e-5
    assert 0.7 < noise.std() < 1.3
