"""The generate form in Chromium shows only the chosen mode's inputs, also after choosing another model
redraws it; no job is queued, so no worker is needed."""

import pytest

from access.models import Role
from tests.conftest import member
from tests.e2e.browser import RECORD_VIOLATIONS
from tests.e2e.test_browser import _sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _shown(page) -> set[str]:
    return {name for name in ("image", "last_image", "strength") if page.is_visible(f".field-{name}")}


def test_only_the_chosen_mode_s_inputs_are_shown(live_server, page, password, cohort):
    member("artist@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    page.add_init_script(RECORD_VIOLATIONS)
    _sign_in(page, live_server.url, "artist@example.org", password)
    page.goto(f"{live_server.url}/clips/new/")

    assert _shown(page) == set()
    page.check("input[name=mode][value=image_to_video]")
    assert _shown(page) == {"image"}
    page.check("input[name=mode][value=keyframes]")
    assert _shown(page) == {"image", "last_image"}
    page.check("input[name=mode][value=text_to_video]")
    assert _shown(page) == set()

    page.select_option("select[name=model_key]", "cogvideox-2b")
    page.wait_for_selector("input[name=mode][value=restyle]")
    assert _shown(page) == set()
    page.check("input[name=mode][value=restyle]")
    assert _shown(page) == {"strength"}
    assert page.evaluate("window.__cspViolations") == []


def test_without_script_every_input_stays_visible(live_server, browser, password, cohort):
    member("artist@example.org", programme=cohort.programme, role=Role.ARTIST, cohort=cohort)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, live_server.url, "artist@example.org", password)
    page.goto(f"{live_server.url}/clips/new/")
    assert _shown(page) == {"image", "last_image", "strength"}
    context.close()
