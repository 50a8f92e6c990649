"""Presets and the prompt policy as a person meets them in Chromium: save the generate form's
settings as a preset, start a clip from it, and be told in words why a prompt was refused.
No job is queued on this path, so no worker is needed."""

import pytest

from access.models import Role
from generation.models import Preset, PromptRefusal, RenderJob
from generation.prompt_policy import prompt_rule_create
from tests.conftest import member
from tests.e2e.browser import advanced_open

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_save_a_preset_start_from_it_and_meet_the_policy(live_server, page, password, cohort):
    member("artist@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    prompt_rule_create(programme=cohort.programme, kind="term", text="nuclear bomb", reason="Not in this programme.")
    page.goto(f"{live_server.url}/clips/new/")
    page.fill("input[name=login]", "artist@example.org")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/clips/new/")

    advanced_open(page)
    page.select_option("select[name=num_frames]", "25")
    page.fill("input[name=width]", "256")
    page.fill("input[name=height]", "192")
    page.fill("textarea[name=negative_prompt]", "blur")
    page.click("text=Save these settings as a preset")
    page.fill("input[name=preset_name]", "Small")
    page.click("button:has-text('Save as a preset')")
    page.wait_for_selector("text=Saved these settings as the preset 'Small'.")
    preset = Preset.objects.get()
    assert (preset.num_frames, preset.width, preset.negative_prompt, preset.seed) == (25, 256, "blur", None)

    page.goto(f"{live_server.url}/clips/new/")
    assert page.input_value("select[name=num_frames]") != "25"
    page.select_option("select[name=preset]", label="Small")
    page.click("button:has-text('Use this preset')")
    page.wait_for_url(f"**/clips/new/?preset={preset.pk}")
    assert (page.input_value("select[name=num_frames]"), page.input_value("input[name=height]")) == ("25", "192")

    page.fill("textarea[name=prompt]", "a NUCLEAR   bomb over the sea")
    page.click("button:has-text('Render')")
    page.wait_for_selector("text=Refused by the programme's prompt policy: Not in this programme.")
    assert PromptRefusal.objects.get().matched_text == "NUCLEAR   bomb"
    assert not RenderJob.objects.exists()
