"""Error reports leave without personal data unless the operator opts in: the scrubber on an event as
sentry-sdk's Django integration builds it, and a real sentry-sdk client whose transport keeps what it would
send."""

from __future__ import annotations

import copy
import json
import logging

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from config.sentry import FILTERED, scrub, sentry_init

PROMPT = "a portrait of my neighbour Jane Doe at her front door"
EMAIL = "jane.doe@example.org"
TOKEN = "blt_4fQk9ZrT2mWx8LpN3vBc7HdJ6sYa1Ee5Gu0Ko"
SIGNED = "/clips/media/eyJqb2IiOiI0ZjNhIiwidSI6MTJ9:1vK2x9:Qm9ndXNTaWduYXR1cmVIZXJlMTIzNDU2Nzg/"


def realistic_event() -> dict:
    """What sentry-sdk 2.x sends for an exception in a Django view of the API (trimmed of SDK bookkeeping)."""
    return {
        "level": "error",
        "platform": "python",
        "server_name": "web-1",
        "environment": "production",
        "transaction": "/api/v1/jobs/",
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": f"no grant for {EMAIL} (token {TOKEN})",
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "generation/submission.py",
                                "function": "jobs_submit",
                                "lineno": 88,
                                "vars": {"prompt": repr(PROMPT), "user": f"<User: {EMAIL}>", "count": "1"},
                            }
                        ]
                    },
                }
            ]
        },
        "request": {
            "url": "https://backlot.example.org/api/v1/jobs/",
            "method": "POST",
            "query_string": f"email={EMAIL}",
            "headers": {
                "Authorization": f"Bearer {TOKEN}",
                "Cookie": "sessionid=abc123; csrftoken=def456",
                "Content-Type": "application/json",
                "User-Agent": "curl/8.5",
                "X-Forwarded-For": "203.0.113.9",
                "Referer": f"https://backlot.example.org{SIGNED}",
            },
            "cookies": {"sessionid": "abc123", "csrftoken": "def456"},
            "data": {
                "prompt": PROMPT,
                "negative_prompt": "blurry",
                "model_key": "ltx-video",
                "num_frames": 25,
                "nested": {"email": EMAIL, "steps": 4},
            },
            "env": {"REMOTE_ADDR": "203.0.113.9", "SERVER_NAME": "web-1"},
        },
        "user": {"id": "42", "email": EMAIL, "username": EMAIL, "ip_address": "203.0.113.9"},
        "logentry": {"message": "generation.submit_failed user=%s", "params": [EMAIL]},
        "extra": {"prompt": PROMPT, "job": "4f3a", "note": f"reported by {EMAIL}"},
        "contexts": {"runtime": {"name": "CPython", "version": "3.11.9"}},
        "tags": {"model": "ltx-video"},
        "breadcrumbs": {
            "values": [
                {"category": "query", "message": f"SELECT ... WHERE email = '{EMAIL}'", "data": {}},
                {"category": "httplib", "data": {"url": "http://redis:6379", "status_code": 200}},
                {"category": "django", "message": f"GET {SIGNED}", "data": {"token": TOKEN}},
            ]
        },
    }


def test_the_scrubber_leaves_no_prompt_email_token_cookie_or_authorization():
    event = realistic_event()
    original = copy.deepcopy(event)

    scrubbed = scrub(event, {})

    sent = json.dumps(scrubbed)
    for secret in (PROMPT, EMAIL, TOKEN, "abc123", "def456", "203.0.113.9", "Qm9ndXNTaWduYXR1cmVIZXJlMTIzNDU2Nzg"):
        assert secret not in sent, secret
    request = scrubbed["request"]
    assert request["headers"]["Authorization"] == FILTERED and request["headers"]["Cookie"] == FILTERED
    assert request["cookies"] == FILTERED and request["query_string"] == FILTERED and "env" not in request
    assert request["data"]["prompt"] == FILTERED and request["data"]["negative_prompt"] == FILTERED
    assert request["data"]["nested"]["email"] == FILTERED
    assert scrubbed["user"] == {"id": "42"}
    assert "vars" not in scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert scrubbed["exception"]["values"][0]["value"] == f"no grant for {FILTERED} (token {FILTERED})"
    assert scrubbed["logentry"]["params"] == [FILTERED]
    assert scrubbed["extra"]["prompt"] == FILTERED
    # What an operator needs to find the fault stays.
    assert request["data"]["model_key"] == "ltx-video" and request["data"]["num_frames"] == 25
    assert request["headers"]["User-Agent"] == "curl/8.5" and request["method"] == "POST"
    assert request["url"] == "https://backlot.example.org/api/v1/jobs/"
    assert scrubbed["exception"]["values"][0]["type"] == "ValueError"
    assert scrubbed["extra"]["job"] == "4f3a" and scrubbed["tags"] == {"model": "ltx-video"}
    assert scrubbed["contexts"] == original["contexts"]
    assert scrubbed["breadcrumbs"]["values"][1]["data"]["status_code"] == 200
    assert event == original, "the scrubber returns a new event"


class Kept(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.events: list[dict] = []

    def capture_envelope(self, envelope):
        event = envelope.get_event()
        if event is not None:
            self.events.append(event)


@pytest.fixture
def sentry():
    """sentry-sdk started as settings.py starts it, its transport keeping the events; stopped after."""

    def start(*, send_pii: bool) -> Kept:
        transport = Kept()
        sentry_init(
            dsn="https://public@sentry.example.invalid/1",
            environment="test",
            traces_sample_rate=0.0,
            send_pii=send_pii,
            transport=transport,
            default_integrations=False,
        )
        return transport

    yield start
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: reports nothing


def _report(prompt: str):
    sentry_sdk.add_breadcrumb(category="generation", message=f"submitted for {EMAIL}", data={"prompt": prompt})
    try:
        raise RuntimeError(f"render failed for {EMAIL} with {TOKEN}")
    except RuntimeError:
        sentry_sdk.capture_exception()
    logging.getLogger("test").error("x")
    sentry_sdk.flush()


def test_a_real_client_sends_the_scrubbed_event(sentry):
    transport = sentry(send_pii=False)
    prompt = PROMPT
    sentry_sdk.set_user({"id": "42", "email": EMAIL})
    _report(prompt)

    assert len(transport.events) == 1
    sent = json.dumps(transport.events[0])
    assert EMAIL not in sent and TOKEN not in sent and PROMPT not in sent
    assert transport.events[0]["user"] == {"id": "42"}
    assert "RuntimeError" in sent


@pytest.mark.filterwarnings("ignore:The send_default_pii option is deprecated")
def test_an_operator_who_opts_in_gets_everything(sentry):
    transport = sentry(send_pii=True)
    sentry_sdk.set_user({"id": "42", "email": EMAIL})
    _report(PROMPT)

    sent = json.dumps(transport.events[0])
    assert EMAIL in sent and TOKEN in sent and PROMPT in sent
