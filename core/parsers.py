"""The API's JSON parser: DRF's, with a bound on nesting and on size. Python's json module recurses once
per level, so a body of a few thousand '[' would end in RecursionError (a 500); no request here needs more
than a few levels. Bodies are bounded by DATA_UPLOAD_MAX_MEMORY_SIZE, as Django bounds forms (DRF reads
the stream itself and would otherwise read any size)."""

from __future__ import annotations

import json
import re

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def too_large_message(limit: int) -> str:
    return f"Request body too large: the limit is {limit:,} bytes ({limit / 2**20:.1f} MiB)."


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit``, found without recursion."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = b"" if stream is None else stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(too_large_message(limit))
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
        depth = settings.API_JSON_MAX_DEPTH
        if json_depth_exceeds(text, depth):
            raise exceptions.ParseError(f"JSON nested too deeply: at most {depth} levels of arrays and objects.")
        try:
            return json.loads(text, parse_constant=self._refuse_constant if self.strict else None)
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None

    @staticmethod
    def _refuse_constant(name):
        raise ValueError(f"Out of range float values are not JSON compliant: {name!r}")
