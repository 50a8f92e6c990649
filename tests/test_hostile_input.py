"""Hostile input gets a clear 4xx and changes nothing: nested JSON, oversized bodies, time-zone offsets and
dates out of range, control and direction characters, invisible text, and unmatched /api/ paths in any mode."""

import importlib
import inspect
import json
import pkgutil

import pytest
from django import forms
from django.urls import reverse
from django_filters import FilterSet
from rest_framework import serializers

from access.models import Grant
from core.input_checks import CheckedInput, field_checked
from core.text import NOTHING_VISIBLE, text_problem
from feedback.models import Report
from generation.models import Preset, RenderJob
from generation.quota import grant_usage
from tests.generation.job_requests import SETTINGS
from tests.generation.test_api import GOOD

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"
PRESETS = "/api/v1/presets/"
REPORTS = "/api/v1/feedback/reports/"


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _nothing_queued(tester):
    grant = Grant.objects.get(user=tester)
    return RenderJob.objects.count() == 0 and grant_usage(grant)["seconds_total"] == 0


# Nested JSON


@pytest.mark.parametrize("path", [JOBS, PRESETS, REPORTS])
@pytest.mark.parametrize("levels", [40, 3000, 100_000])
def test_json_nested_deeper_than_the_limit_is_a_400_naming_the_limit(api, tester, path, levels):
    body = '{"prompt": ' + nested(levels) + "}"
    response = api.post(path, body, content_type="application/json")

    assert response.status_code == 400, response.content[:200]
    assert response.json() == {"detail": "JSON nested too deeply: at most 32 levels of arrays and objects."}
    assert not RenderJob.objects.exists() and not Preset.objects.exists() and not Report.objects.exists()


def test_brackets_inside_strings_are_text_not_nesting(api, tester):
    response = api.post(JOBS, {**GOOD, "prompt": "a wall of [[[[" * 50 + '{{{ \\" ['}, format="json")

    assert response.status_code == 201, response.json()


# Body size


def test_a_10_mb_json_body_is_a_413_that_says_the_limit(api, tester):
    body = '{"prompt": "' + "a" * 10_000_000 + '"}'
    response = api.post(JOBS, body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["detail"] == "Request body too large: the limit is 2,621,440 bytes (2.5 MiB)."
    assert _nothing_queued(tester)


def test_a_json_body_over_the_limit_without_a_length_is_still_a_413(api, tester, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    from django.test.client import FakePayload

    body = ('{"prompt": "' + "a" * 5000 + '"}').encode()
    response = api.generic(
        "POST", JOBS, content_type="application/json", wsgi_input=FakePayload(body), CONTENT_LENGTH=""
    )

    assert response.status_code in (400, 413)
    assert not RenderJob.objects.exists()


def test_a_form_over_the_limit_is_a_413_page_that_says_the_limit(tester_client, tester):
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "prompt": "a" * 3_000_000})

    assert response.status_code == 413
    assert "the limit is 2,621,440 bytes" in response.content.decode()
    assert _nothing_queued(tester)


def test_a_multipart_form_whose_text_is_over_the_limit_is_a_413(tester_client, tester, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = tester_client.post(reverse("feedback:bug_new"), {"title": "x" * 20_000})

    assert response.status_code == 413
    assert "the limit is 10,000 bytes" in response.content.decode()
    assert not Report.objects.exists()


def test_an_api_multipart_body_whose_text_is_over_the_limit_is_a_json_413(api, tester, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api.post(REPORTS, {"kind": "bug", "title": "x" * 20_000}, format="multipart")

    assert response.status_code == 413 and "10,000 bytes" in response.json()["detail"]


# Time-zone offsets and dates


OUT_OF_RANGE = [
    "2026-01-01T00:00:00+16:00",
    "2026-01-01T00:00:00-23:59",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00+05:00",
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_an_api_date_filter_out_of_range_is_a_400(api, tester, name, value):
    response = api.get(JOBS, {name: value})

    assert response.status_code == 400, response.content[:300]
    message = response.json()[name][0]
    assert "-15:59 to +15:59" in message or "Choose a date from 1900-01-01 to 9998-12-31" in message


def test_an_api_date_filter_within_range_still_filters(api, tester):
    assert api.post(JOBS, GOOD, format="json").status_code == 201
    assert len(api.get(JOBS, {"created_after": "2000-01-01T00:00:00+15:59"}).json()["results"]) == 1
    assert len(api.get(JOBS, {"created_before": "2000-01-01T00:00:00-15:59"}).json()["results"]) == 0


@pytest.mark.parametrize("until", ["9999-12-31", "0001-01-01"])
def test_a_gallery_date_out_of_range_is_a_form_error(tester_client, until):
    response = tester_client.get(reverse("generation:job_list"), {"until": until})

    assert response.status_code == 400
    assert "Choose a date from 1900-01-01 to 9998-12-31" in response.content.decode()


def test_a_grant_dated_with_an_offset_out_of_range_is_a_form_error(client, admin_user, tester):
    from access.manage_forms import GrantForm

    grant = Grant.objects.get(user=tester)
    form = GrantForm(data={"starts_at": "2026-01-01T00:00:00+16:00"}, grant=grant)
    assert not form.is_valid()
    assert "-15:59 to +15:59" in str(form.errors["starts_at"])


# Control characters, direction controls, invisible text


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a bell\x07 rings", "control character U+0007"),
        ("an escape \x1b[31m red", "control character U+001B"),
        ("a C1 \x85 control", "control character U+0085"),
        ("evil \u202egnp.exe", "right-to-left override"),
        ("isolated \u2066text\u2069", "left-to-right isolate"),
        ("\u200b\u200b\u200b", NOTHING_VISIBLE),
        ("\u200d\ufeff \u2060\u3164", NOTHING_VISIBLE),
        ("lone \ud800 surrogate", "U+D800"),
    ],
)
def test_a_prompt_with_hidden_characters_is_refused_and_nothing_is_charged(
    api, tester, tester_client, prompt, expected
):
    response = api.post(JOBS, json.dumps({**GOOD, "prompt": prompt}), content_type="application/json")  # \u escapes
    assert response.status_code == 400
    assert expected in response.json()["prompt"][0]

    if "\ud800" not in prompt:  # a form post cannot carry a lone surrogate (it is not UTF-8)
        page = tester_client.post(reverse("generation:job_create"), {**GOOD, "prompt": prompt})
        assert page.status_code == 400 and expected in page.content.decode()
    assert _nothing_queued(tester)


def test_a_negative_prompt_and_a_preset_name_are_checked_too(api, tester):
    response = api.post(JOBS, {**GOOD, "negative_prompt": "blur\x00"}, format="json")
    assert response.status_code == 400 and "negative_prompt" in response.json()
    preset = {"name": "\u202eNight", **SETTINGS}
    response = api.post(PRESETS, preset, format="json")
    assert response.status_code == 400 and "right-to-left override" in response.json()["name"][0]
    assert not RenderJob.objects.exists() and not Preset.objects.exists()


def test_a_report_with_a_control_character_in_its_title_is_refused(api, tester):
    response = api.post(
        REPORTS,
        {"kind": "bug", "title": "grey\x1b frames", "steps": "1", "expected": "a", "actual": "b"},
        format="json",
    )
    assert response.status_code == 400 and "U+001B" in response.json()["title"][0]
    assert not Report.objects.exists()


def test_line_breaks_and_tabs_are_fine_in_text_areas_and_refused_on_one_line():
    assert text_problem("first line\r\n\tsecond", multiline=True) is None
    assert "one line" in text_problem("first line\nsecond")
    assert text_problem("naïve café 🎬 👩\u200d💻 שלום \u200f!") is None  # joiners and marks inside visible text


def test_a_multi_line_prompt_is_accepted_by_form_and_api(api, tester, tester_client):
    assert api.post(JOBS, {**GOOD, "prompt": "dawn\r\n\tthen dusk"}, format="json").status_code == 201
    response = tester_client.post(reverse("generation:job_create"), {**GOOD, "prompt": "dawn\r\nthen dusk"})
    assert response.status_code == 302
    assert RenderJob.objects.count() == 2


def _project_classes(base):
    found = set()
    for app in ("access", "generation", "feedback", "competition", "config"):
        package = importlib.import_module(app)
        for module in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" in module.name or ".management" in module.name:
                continue
            loaded = importlib.import_module(module.name)
            for _, cls in inspect.getmembers(loaded, inspect.isclass):
                if issubclass(cls, base) and cls.__module__ == module.name:
                    found.add(cls)
    return found


def test_every_form_serializer_and_filter_of_the_project_checks_its_text_and_dates():
    """A new form, serializer or filter set that forgets CheckedInput fails here."""
    classes = _project_classes(forms.BaseForm) | _project_classes(serializers.BaseSerializer)
    assert len(classes) > 40
    unchecked = sorted(cls.__qualname__ for cls in classes if not issubclass(cls, CheckedInput))
    assert unchecked == []
    filtersets = _project_classes(FilterSet)
    assert filtersets and all(issubclass(f._meta.form, CheckedInput) for f in filtersets)


def test_every_text_and_date_field_of_the_serializers_carries_its_rule():
    checked = 0
    for cls in _project_classes(serializers.BaseSerializer):
        try:
            instance = cls(context={"request": None})
            fields = instance.fields
        except Exception:  # noqa: BLE001, S112 (a serializer that needs arguments is covered by the test above)
            continue
        for name, field in fields.items():
            if not field.read_only:
                assert field_checked(field), f"{cls.__qualname__}.{name}"
                checked += 1
    assert checked > 20


def test_every_text_and_date_field_of_a_form_carries_its_rule_once_cleaned():
    checked = 0
    for cls in _project_classes(forms.BaseForm):
        try:
            form = cls(data={})
        except TypeError:  # needs arguments (a programme, a report): covered by the test above
            continue
        form.is_valid()
        for name, field in form.fields.items():
            assert field_checked(field), f"{cls.__qualname__}.{name}"
            checked += 1
    assert checked > 30


def test_every_admin_edit_form_checks_its_text_and_dates(rf, admin_user):
    """The Django admin builds its forms at run time, so the walk above cannot see them: ask each admin of ours
    (allauth's and django.contrib.auth's Group admins are theirs)."""
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = admin_user
    ours = [a for m, a in admin.site._registry.items() if m._meta.app_label in ("access", "generation", "feedback")]
    unchecked = sorted(type(a).__qualname__ for a in ours if not issubclass(a.get_form(request), CheckedInput))
    assert len(ours) > 15 and unchecked == []


def test_a_direction_override_typed_into_the_admin_is_refused_and_nothing_changes(client, admin_user, programme):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    # Programmes are read-only in the admin (set up on the console); the terms are one of its edit forms.
    url = reverse("admin:access_termsversion_add")

    response = client.post(url, {"programme": programme.pk, "text": "Terms.", "changes": "Launch\u202egpj.exe"})

    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert not programme.terms_versions.exists()


# JSON on every /api/ path


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize("path", ["/api/nothing", "/api/v1/nothing/", "/api/v9/jobs/x/y/"])
def test_an_unmatched_api_path_answers_json_in_every_mode(api, settings, debug, path):
    settings.DEBUG = debug
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("debug", [True, False])
def test_a_server_error_on_an_api_path_answers_json_in_every_mode(api, settings, debug, monkeypatch):
    from generation.api import RenderJobViewSet

    def crash(self, request, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(RenderJobViewSet, "list", crash)
    settings.DEBUG = debug
    api.raise_request_exception = False
    response = api.get(JOBS)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Server error."}


@pytest.mark.parametrize("debug", [True, False])
def test_a_too_large_body_on_the_api_is_json_in_every_mode(api, settings, debug):
    settings.DEBUG = debug
    response = api.post(JOBS, "x" * 3_000_000, content_type="text/plain")

    assert response.status_code == 413 and response["Content-Type"] == "application/json"


def test_an_html_page_keeps_its_html_404(tester_client):
    response = tester_client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_the_render_service_itself_refuses_hidden_characters(tester):
    """Every way of queueing (form, API, variations, presets) goes through job_create: it refuses too."""
    from django.core.exceptions import ValidationError

    from generation.submission import job_create

    with pytest.raises(ValidationError) as refused:
        job_create(owner=tester, **{**GOOD, "prompt": "bell\x07", "negative_prompt": "\u202eblur"})
    assert "U+0007" in refused.value.message_dict["prompt"][0]
    assert "right-to-left override" in refused.value.message_dict["negative_prompt"][0]
    assert _nothing_queued(tester)


def test_texts_sent_without_a_form_are_checked_too(client, tester, admin_user):
    """The showcase credit name and a leak alert's note are read from the request by their views."""
    from django.core.exceptions import ValidationError

    from access.leaks import alert_raise
    from feedback import showcase
    from feedback.models import ShowcaseOffer
    from tests.feedback.conftest import finished_clip

    clip = finished_clip(tester, programme=Grant.objects.get(user=tester).programme)
    with pytest.raises(ValidationError, match="right-to-left override"):
        showcase.showcase_offer(job=clip, artist=tester, credit_name="\u202eTess")
    assert not ShowcaseOffer.objects.exists()

    alert = alert_raise(kind="burst", user=tester, credential="session:abc", jobs_last_hour=99)
    client.force_login(admin_user)
    response = client.post(f"/leak-alerts/{alert.pk}/decide/", {"decision": "lift", "note": "ok\x1b[2J"}, follow=True)
    assert "U+001B" in response.content.decode()
    alert.refresh_from_db()
    assert alert.state != "lifted"
