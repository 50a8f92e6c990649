"""The GPU worker's settings, applied to the real smoke pipeline when it loads: each one renders, and a
setting the pipeline or the device cannot honour fails the job with the reason instead of rendering."""

import numpy as np
import pytest

from generation import render as render_service
from generation import runner
from generation.acceleration import Tuning, TuningError, pipeline_tune
from generation.models import RenderJob, Worker
from tests.factories import RenderJobFactory

PARAMS = runner.RenderParams("a red bird over water", "", 17, 64, 64, 6, 3.0, 7)


@pytest.fixture
def fresh_pipelines():
    runner._pipelines.clear()
    yield
    runner._pipelines.clear()


def render(spec):
    return runner.render(spec, PARAMS, on_step=lambda *_: None).frames


def test_the_default_settings_change_nothing(smoke_model, fresh_pipelines):
    assert Tuning.from_settings() == Tuning()


@pytest.mark.parametrize("cache", ["first-block", "pyramid", "faster", "taylorseer"])
def test_each_cache_acceleration_renders_a_clip_and_repeats_itself(smoke_model, fresh_pipelines, settings, cache):
    settings.BACKLOT_CACHE = cache
    first, second = render(smoke_model), render(smoke_model)

    assert first.shape == (17, 64, 64, 3) and np.isfinite(first).all()
    assert np.array_equal(first, second), "the cache's state must not leak from one job into the next"
    assert runner.pipeline_get(smoke_model).transformer.is_cache_enabled


def test_vae_tiling_decodes_in_tiles(smoke_model, fresh_pipelines, settings):
    settings.BACKLOT_VAE_TILING = True
    frames = render(smoke_model)

    assert runner.pipeline_get(smoke_model).vae.use_tiling
    assert frames.shape == (17, 64, 64, 3)


def test_compile_wraps_the_transformer_in_place(smoke_model, fresh_pipelines, settings):
    import torch

    settings.BACKLOT_TORCH_COMPILE = True
    pipeline = runner.pipeline_get(smoke_model)
    assert pipeline.transformer._compiled_call_impl is not None  # nn.Module.compile, attributes intact
    torch._dynamo.reset()


def test_offload_without_a_gpu_marks_the_worker_unhealthy_with_the_reason(
    smoke_model, fresh_pipelines, settings, tester
):
    """A setting the device cannot honour is the worker's fault: the job goes back to the queue for another."""
    settings.BACKLOT_CPU_OFFLOAD = "model"
    job = RenderJobFactory(owner=tester, num_frames=9, width=64, height=64, num_steps=2, charged_seconds=4)

    render_service.job_render(job_id=job.pk, worker="w")

    job.refresh_from_db()
    assert (job.state, job.charged_seconds) == (RenderJob.State.QUEUED, 4)
    reason = Worker.objects.get(hostname="w").health_reason
    assert "CPU offload" in reason and "no GPU" in reason


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cpu_offload", "some", "BACKLOT_CPU_OFFLOAD"),
        ("cache", "magic", "BACKLOT_CACHE"),
        ("cache_threshold", 2.0, "BACKLOT_CACHE_THRESHOLD"),
    ],
)
def test_unknown_settings_are_refused_by_name(field, value, message):
    with pytest.raises(TuningError, match=message):
        Tuning(**{field: value}).check()


def test_a_cache_the_pipeline_lacks_is_refused(smoke_model):
    class Bare:
        transformer = object()

        def to(self, device):
            return self

    with pytest.raises(TuningError, match="supports no diffusers cache"):
        pipeline_tune(Bare(), device="cpu", tuning=Tuning(cache="first-block"))
