import pytest

from generation.registry import model_get

VALID = {"num_frames": 121, "width": 704, "height": 480, "num_steps": 30, "guidance_scale": 3.0}


@pytest.fixture
def ltx():
    return model_get("ltx-video")


def test_valid_settings_pass(ltx):
    assert ltx.validate(**VALID) == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_frames", 120),
        ("num_frames", 0),
        ("num_frames", 265),
        ("width", 700),
        ("height", 32),
        ("width", 1312),
        ("num_steps", 0),
        ("num_steps", -3),
        ("num_steps", 101),
        ("guidance_scale", -1.0),
        ("guidance_scale", 21.0),
    ],
)
def test_each_rule_names_its_field(ltx, field, value):
    errors = ltx.validate(**{**VALID, field: value})
    assert list(errors) == [field]


def test_a_model_loads_its_smoke_build_unless_told_otherwise(ltx, settings):
    settings.BACKLOT_MODEL_SOURCES = {}
    assert ltx.source() == str(settings.BACKLOT_MODELS_DIR / "smoke" / "ltx-video")
    settings.BACKLOT_MODEL_SOURCES = {"ltx-video": "hub"}
    assert ltx.source() == "Lightricks/LTX-Video"
    settings.BACKLOT_MODEL_SOURCES = {"ltx-video": "/srv/models/ltx-0.9.7"}
    assert ltx.source() == "/srv/models/ltx-0.9.7"


def test_each_model_has_its_own_queue(ltx):
    assert ltx.queue == "render.ltx-video"
