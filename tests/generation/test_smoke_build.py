import hashlib

import pytest
from django.core.management import CommandError, call_command

from generation.smoke import smoke_build


def _digest(folder):
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_building_twice_gives_identical_files(tmp_path):
    first = smoke_build(model_key="ltx-video", folder=tmp_path / "a")
    second = smoke_build(model_key="ltx-video", folder=tmp_path / "b")

    digests = _digest(first)
    assert "transformer/diffusion_pytorch_model.safetensors" in digests
    assert "tokenizer/tokenizer.json" in digests
    assert digests == _digest(second)
    assert all(oct(path.stat().st_mode)[-3:] == "644" for path in first.rglob("*") if path.is_file())


def test_the_build_loads_through_from_pretrained_and_tokenizes_any_prompt(tmp_path):
    from diffusers import LTXPipeline

    folder = smoke_build(model_key="ltx-video", folder=tmp_path / "ltx")
    pipeline = LTXPipeline.from_pretrained(folder)
    ids = pipeline.tokenizer("A cat, 3 dogs & a zebra!")["input_ids"]
    assert pipeline.tokenizer.unk_token_id not in ids
    assert ids[-1] == pipeline.tokenizer.eos_token_id


def test_an_unknown_model_is_refused():
    with pytest.raises(CommandError, match="Unknown model nope"):
        call_command("smoke_build", "nope")


def test_a_model_without_a_smoke_build_is_refused(tmp_path):
    with pytest.raises(ValueError, match="No smoke build"):
        smoke_build(model_key="no-such-model", folder=tmp_path)
    assert not any(tmp_path.iterdir())
