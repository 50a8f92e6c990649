"""The lean request path: a few hot addresses (the progress polls and /healthz) served by a Django handler with only the
middleware they need, in front of the full one. They check access themselves (generation/progress.py),
from one indexed read, instead of paying for sessions, authentication, leak watch, terms, CSP and the rest
on every poll. Same URLs, same views: under the test client, or in any server that does not use
``config.wsgi``, they simply go through the full stack."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

LEAN_PATHS = re.compile(r"^/((clips|api/v1/jobs)/[0-9a-f-]{36}/progress/|healthz)$")
LEAN_MIDDLEWARE = {
    "core.metrics.ApiRequestsMiddleware",  # API progress polls count in backlot_api_requests_total too
    "config.query_count.QueryCountMiddleware",
    "core.client_address.ForwardedProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.errors.ApiErrorsAsJsonMiddleware",
}


class LeanHandler(WSGIHandler):
    def load_middleware(self, is_async=False):
        # Built once, as the server process starts, before it serves anything.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [path for path in full if path in LEAN_MIDDLEWARE]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def with_lean_paths(full: WSGIHandler):
    """A WSGI application that sends the lean paths to a LeanHandler and everything else to ``full``."""
    lean = LeanHandler()

    def application(environ, start_response):
        handler = lean if LEAN_PATHS.match(environ.get("PATH_INFO", "")) else full
        return handler(environ, start_response)

    return application
