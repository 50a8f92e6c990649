import numpy as np
import pytest

from generation import runner
from generation.encoding import frames_to_uint8

# One real smoke render shared by the watermark and trace tests (and equal to what job_render makes of a
# job with these settings: renders are deterministic for a seed).
SMOKE_RENDER = {
    "prompt": "a red bird over the sea",
    "negative_prompt": "",
    "num_frames": 25,
    "width": 256,
    "height": 256,
    "num_steps": 2,
    "guidance_scale": 3.0,
    "seed": 7,
}


@pytest.fixture(scope="session")
def smoke_frames(smoke_model) -> np.ndarray:
    """The smoke model's 25-frame 256x256 render (noise, as its random weights make), as uint8 RGB."""
    result = runner.render(smoke_model, runner.RenderParams(**SMOKE_RENDER), on_step=lambda *_: None)
    return frames_to_uint8(result.frames)


def serving(settings, models_dir):
    """A fixture's body: workers in the test load the smoke builds in ``models_dir``, and no pipeline outlives
    the test. Use it as ``yield from serving(settings, models_dir)``."""
    settings.BACKLOT_MODELS_DIR = models_dir
    settings.BACKLOT_MODEL_SOURCES = {}
    runner._pipelines.clear()
    yield models_dir
    runner._pipelines.clear()
