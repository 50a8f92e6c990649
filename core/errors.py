"""Errors that Django answers before any view of ours runs, answered clearly: a body over the size limit is a
413 that says the limit, and every error on an /api/ path is JSON ({"detail": ...}) whatever the mode: Django's
error pages (config/urls.py's handlers, or with DEBUG on its debug pages) are replaced here, in one place."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.shortcuts import render

from core.parsers import too_large_message

API_PREFIX = "/api/"
DETAILS = {
    400: "Bad request.",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "Request body too large.",
    500: "Server error.",
}


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def too_large(request):
    """The 413 answer: JSON on /api/, a page elsewhere."""
    message = too_large_message(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if is_api(request):
        return JsonResponse({"detail": message, "code": "too_large"}, status=413)
    return render(request, "413.html", {"message": message}, status=413)


def _multipart(request) -> bool:
    return request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class BodyLimitMiddleware:
    """Refuse a body over DATA_UPLOAD_MAX_MEMORY_SIZE with 413 before anything reads it. Multipart bodies
    carry files, whose size each upload's own rule judges (a film: its call's limit; an attachment: the
    feedback limit); Django still bounds their other fields, and that refusal becomes a 413 too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and not _multipart(request) and _declared_length(request) > limit:
            return too_large(request)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return too_large(request)
        return None


class ApiErrorsAsJsonMiddleware:
    """Any error answer on an /api/ path that is not JSON (Django's HTML 404, 405 or 500 page, its debug
    pages) is replaced by the API's JSON error body, with the same status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not is_api(request) or response.status_code < 400 or _is_json(response):
            return response
        detail = DETAILS.get(response.status_code, DETAILS[400] if response.status_code < 500 else DETAILS[500])
        if response.status_code == 405:
            detail = f'Method "{request.method}" not allowed.'
        replacement = JsonResponse({"detail": detail}, status=response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement


def _is_json(response) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")
