"""The API schema: the error answers every endpoint can give, documented once here
so that clients (and the fuzz test) can rely on them as much as on the success responses."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny

from core.input_checks import CheckedInput


class ErrorSerializer(CheckedInput, serializers.Serializer):
    """Why the request was refused."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False, help_text="Set by access checks, e.g. `access_suspended`.")


FIELD_ERRORS = {
    "type": "object",
    "description": "Each field that was wrong, with its messages (`non_field_errors` for the input as a whole; "
    "for a list, an object of messages per position). A body that could not be read gets `detail` instead.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object", "additionalProperties": {}}]
    },
}
SECONDS = {"type": "integer", "minimum": 0}

ERROR_ANSWERS = {
    "400": ("Bad input; nothing was changed.", None, {}),
    "401": (
        "No credentials, or ones that are not valid: an unknown, expired, revoked or suspended token.",
        ErrorSerializer,
        {"WWW-Authenticate": {"schema": {"type": "string", "enum": ["Bearer"]}, "required": True}},
    ),
    "403": (
        "Refused: the token lacks the scope, your access is suspended or has ended, your quota is spent, "
        "or the endpoint is for staff signed in with a session.",
        ErrorSerializer,
        {},
    ),
    "404": ("No such object of yours.", ErrorSerializer, {}),
    "415": ("The body's media type is not one this operation reads.", ErrorSerializer, {}),
    "429": (
        "Too many requests.",
        ErrorSerializer,
        {"Retry-After": {"schema": SECONDS, "required": True, "description": "Seconds until the next try."}},
    ),
}


class BacklotAutoSchema(AutoSchema):
    """Adds the error answers an operation can give to those its view documents (a view's own wins)."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if code not in responses:
                description, serializer, headers = ERROR_ANSWERS[code]
                response = self._get_response_for_code(serializer or self._field_errors(), code)
                responses[code] = {**response, "description": description, **({"headers": headers} if headers else {})}
        return responses

    def _field_errors(self) -> dict:
        component = ResolvedComponent(
            name="FieldErrors", type=ResolvedComponent.SCHEMA, schema=FIELD_ERRORS, object="FieldErrors"
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _error_codes(self) -> list[str]:
        codes = []
        if self._takes_input():
            codes.append("400")
        if not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if self._has_body():
            codes.append("415")
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _takes_input(self) -> bool:
        """A request body, filters or a cursor: each is checked, and bad values answer 400."""
        if self._has_body():
            return True
        if self.method == "GET" and self._is_list_view():
            return bool(self._get_filter_parameters()) or isinstance(self._get_paginator(), CursorPagination)
        return False

    def _has_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
