"""Error reports to Sentry, only when SENTRY_DSN is set (config/settings.py calls sentry_init), for the web app
and the Celery workers alike (sentry-sdk finds Django and Celery by itself).

Unless BACKLOT_SENTRY_SEND_PII opts in, no personal data leaves: sentry-sdk is told not to send any
(send_default_pii off, no local variables in stack frames), and every event passes ``scrub`` before it is sent,
which removes what sentry-sdk would still carry: prompts and other form or JSON fields by name, cookies and
authorization headers, the user's email, name and address, and any email address, Backlot API token or signed
media link written inside a message, an exception's text or a breadcrumb."""

from __future__ import annotations

import copy
import re

FILTERED = "[Filtered]"

# Fields removed wherever they appear in an event (request data, extra, contexts, breadcrumbs' data): what
# people type (prompts, their text), who they are, and credentials.
SENSITIVE_KEYS = re.compile(
    r"(?:^|[_\-.])(?:prompt|email|password|passwd|secret|token|api_key|authorization|cookies?|session|sessionid|"
    r"csrf|csrftoken|signature|credentials?|otp|totp|recovery|username|display_name|first_name|last_name|phone|"
    r"address|ip|remote_addr)(?:$|[_\-.])",
    re.IGNORECASE,
)
SENSITIVE_HEADERS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-csrftoken",
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
}
# Strings scrubbed wherever they appear in text.
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
API_TOKEN = re.compile(r"\bblt_[0-9A-Za-z]{8,}")
IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
BEARER = re.compile(r"(?i)\b(bearer|token)\s+(?!\[Filtered\])[^\s,;()]+")
# Signed links (/clips/media/<signed>/, films, posters): a long opaque path segment carries the signature.
SIGNED_SEGMENT = re.compile(r"/[A-Za-z0-9_\-:.]{32,}(?=/|$|\?)")


def scrub_text(text: str) -> str:
    text = EMAIL.sub(FILTERED, text)
    text = API_TOKEN.sub(FILTERED, text)
    text = IPV4.sub(FILTERED, text)
    text = BEARER.sub(lambda match: f"{match.group(1)} {FILTERED}", text)
    return SIGNED_SEGMENT.sub("/" + FILTERED, text)


def _scrub(value, *, key: str = ""):
    if key and SENSITIVE_KEYS.search(key):
        return FILTERED
    if isinstance(value, dict):
        return {name: _scrub(item, key=str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _scrub_request(request: dict) -> dict:
    request = dict(request)
    headers = request.get("headers") or {}
    request["headers"] = {
        name: FILTERED if name.lower() in SENSITIVE_HEADERS or SENSITIVE_KEYS.search(name) else scrub_text(str(value))
        for name, value in headers.items()
    }
    if "cookies" in request:
        request["cookies"] = FILTERED
    if "data" in request:
        # A body that is not a mapping (raw text, a file) is dropped whole: it may be a prompt.
        request["data"] = _scrub(request["data"]) if isinstance(request["data"], dict) else FILTERED
    if request.get("query_string"):
        request["query_string"] = FILTERED
    if "url" in request:
        request["url"] = scrub_text(str(request["url"]))
    request.pop("env", None)  # REMOTE_ADDR and SERVER_NAME
    return request


def _scrub_frames(event: dict) -> None:
    for exception in (event.get("exception") or {}).get("values") or []:
        if "value" in exception and isinstance(exception["value"], str):
            exception["value"] = scrub_text(exception["value"])
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for thread in (event.get("threads") or {}).get("values") or []:
        for frame in (thread.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def scrub(event: dict, hint: dict | None = None) -> dict:
    """sentry-sdk's before_send (and before_send_transaction): a copy of the event without personal data."""
    event = copy.deepcopy(event)
    if "request" in event:
        event["request"] = _scrub_request(event["request"])
    if "user" in event:
        event["user"] = {"id": event["user"]["id"]} if event["user"].get("id") is not None else {}
    _scrub_frames(event)
    if isinstance(event.get("logentry"), dict):
        logentry = dict(event["logentry"])
        for name in ("message", "formatted"):
            if isinstance(logentry.get(name), str):
                logentry[name] = scrub_text(logentry[name])
        if "params" in logentry:
            logentry["params"] = _scrub(list(logentry["params"]))
        event["logentry"] = logentry
    if isinstance(event.get("message"), str):
        event["message"] = scrub_text(event["message"])
    for name in ("extra", "contexts", "tags"):
        if isinstance(event.get(name), dict):
            event[name] = _scrub(event[name])
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict) and isinstance(breadcrumbs.get("values"), list):
        event["breadcrumbs"] = {**breadcrumbs, "values": [_scrub(crumb) for crumb in breadcrumbs["values"]]}
    elif isinstance(breadcrumbs, list):
        event["breadcrumbs"] = [_scrub(crumb) for crumb in breadcrumbs]
    return event


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float, send_pii: bool, **options) -> None:
    """Start sentry-sdk (``options``: more of its own, e.g. a transport in tests)."""
    import sentry_sdk

    options |= {
        "dsn": dsn,
        "environment": environment,
        "traces_sample_rate": traces_sample_rate,
        "include_local_variables": send_pii,
    }
    if send_pii:
        options["send_default_pii"] = True
    else:
        options["before_send"] = scrub
        options["before_send_transaction"] = scrub
        options["before_breadcrumb"] = lambda crumb, hint: _scrub(crumb)
    sentry_sdk.init(**options)
