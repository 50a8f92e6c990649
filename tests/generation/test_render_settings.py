"""One type for a render's settings: jobs and presets store them under the same names, and a job, a preset
and a form's data all turn into the same RenderSettings."""

import dataclasses

import pytest

from generation.forms import JobForm, PresetForm
from generation.models import Preset, RenderJob
from generation.presets import preset_create
from generation.render_settings import RenderSettings
from tests.factories import RenderJobFactory, render_settings

pytestmark = pytest.mark.django_db

NAMES = ("model_key", "num_frames", "width", "height", "num_steps", "guidance_scale", "negative_prompt", "seed")


def test_the_eight_settings_are_columns_of_jobs_and_presets_and_fields_of_both_forms():
    assert RenderSettings.names() == NAMES == Preset.SETTINGS
    for model in (RenderJob, Preset):
        assert set(NAMES) <= {field.name for field in model._meta.get_fields()}
    for form in (JobForm, PresetForm):
        assert set(NAMES) <= set(form.base_fields)


def test_a_job_and_the_preset_saved_from_it_have_equal_settings(tester):
    job = RenderJobFactory(owner=tester, negative_prompt="blur", seed=9, num_frames=25, width=256, height=192)
    preset = preset_create(name="From a job", settings=RenderSettings.from_job(job), owner=tester, actor=tester)
    assert RenderSettings.from_preset(preset) == RenderSettings.from_job(job)
    assert preset.render_settings() == RenderSettings.from_job(job).as_fields()


def test_from_mapping_takes_the_settings_and_leaves_the_rest():
    data = {"prompt": "a wave", "variations": 2, "name": "x", **render_settings(seed=3)}
    small = RenderSettings.from_mapping(render_settings())
    assert RenderSettings.from_mapping(data) == dataclasses.replace(small, seed=3)


def test_settings_are_frozen():
    settings = RenderSettings.from_mapping(render_settings())
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 1
