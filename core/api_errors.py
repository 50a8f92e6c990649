"""One translation of service errors into API answers, for every endpoint: views call services and let
their exceptions rise. Django's ValidationError becomes a 400 with each field's messages, its
PermissionDenied a 403 with the service's reason; an app registers its own domain exceptions here (with
the status and code they answer with) instead of catching them in each view."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

_TRANSLATIONS: dict[type[Exception], Callable[[Exception], exceptions.APIException]] = {}


def api_error(
    exception: type[Exception],
    *,
    status_code: int | None = None,
    code: str = "",
    translate: Callable[[Exception], exceptions.APIException] | None = None,
) -> None:
    """Answer ``exception`` (and its subclasses), wherever an API view lets it rise, with ``status_code``,
    its message as ``detail`` and ``code``; or with what ``translate`` makes of it."""
    if translate is None:
        if status_code is None:
            raise ValueError("api_error needs a status_code or a translate function.")
        attributes = {"status_code": status_code, "default_code": code}
        answer = type(exception.__name__, (exceptions.APIException,), attributes)

        def translate(error: Exception) -> exceptions.APIException:
            return answer(str(error), code or None)

    _TRANSLATIONS[exception] = translate


def validation_detail(error: DjangoValidationError) -> dict | list:
    """A Django ValidationError as DRF answers field errors: {field: [messages]}, or non_field_errors."""
    return error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}


def exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: registered translations, then Django's own exceptions, then DRF's."""
    for klass in type(exc).__mro__:
        if klass in _TRANSLATIONS:
            exc = _TRANSLATIONS[klass](exc)
            break
    else:
        if isinstance(exc, DjangoValidationError):
            exc = exceptions.ValidationError(validation_detail(exc))
        elif isinstance(exc, DjangoPermissionDenied) and str(exc):
            exc = exceptions.PermissionDenied(str(exc))
    return drf_exception_handler(exc, context)
