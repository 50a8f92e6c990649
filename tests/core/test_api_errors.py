"""core.api_errors: the one DRF exception handler. Services raise their own exceptions; every API view lets
them rise, and the handler answers each the same way wherever it comes from."""

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework import exceptions

from core.api_errors import api_error, exception_handler
from core.ratelimits import RateLimited, rate_parse
from generation.quota import QuotaExceeded
from generation.submission import IdempotencyConflict


class Odd(Exception):
    pass


class Odder(Odd):
    pass


def _answer(error):
    response = exception_handler(error, {})
    return response.status_code, response.data


def test_it_is_the_api_exception_handler():
    assert settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] == "core.api_errors.exception_handler"


def test_field_errors_answer_400_with_each_fields_messages():
    assert _answer(ValidationError({"prompt": "Write a prompt."})) == (400, {"prompt": ["Write a prompt."]})
    assert _answer(ValidationError("Closed.")) == (400, {"non_field_errors": ["Closed."]})


def test_a_refusal_answers_403_with_the_services_reason():
    assert _answer(PermissionDenied("Your access is paused.")) == (403, {"detail": "Your access is paused."})
    status, data = _answer(PermissionDenied())
    assert status == 403 and data["detail"] == exceptions.PermissionDenied.default_detail


def test_the_generation_errors_answer_as_the_schema_says():
    assert _answer(QuotaExceeded("No room.")) == (403, {"detail": "No room."})
    assert _answer(IdempotencyConflict("Other settings.")) == (409, {"detail": "Other settings."})
    response = exception_handler(RateLimited(scope="submissions", rate=rate_parse("2/h"), retry_after=30), {})
    assert response.status_code == 429 and response["Retry-After"] == "30"
    assert response.data["detail"].startswith("Too many render jobs: at most 2 per hour each.")


def test_a_registered_exception_answers_for_its_subclasses_and_others_are_left_to_drf():
    api_error(Odd, status_code=418, code="odd")
    assert _answer(Odder("Very odd.")) == (418, {"detail": "Very odd."})
    assert exception_handler(KeyError("x"), {}) is None, "anything else is a server error, as before"
    with pytest.raises(ValueError):
        api_error(KeyError)
