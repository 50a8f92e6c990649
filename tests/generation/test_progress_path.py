"""The progress poll on its lean path (generation/progress.py, config/lean.py): the clip page hands out a
watch ticket; the poll answers from one query through the production WSGI application with almost no
middleware, and still refuses a revoked, paused, signed-out or other person on the very next poll."""

import json
import re
from datetime import timedelta
from io import BytesIO

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access import suspensions
from access.tokens import token_create
from generation.models import RenderJob
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def wsgi():
    """Call config.wsgi.application as gunicorn does, inside the test's transaction (as Django's test client
    does, the connection is not closed at the end of each request)."""
    from config.wsgi import application

    def call(path: str, cookies: dict[str, str], headers: dict[str, str] | None = None):
        # The test client connects these again after each of its own requests.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        url, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": url,
            "QUERY_STRING": query,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_COOKIE": "; ".join(f"{name}={value}" for name, value in cookies.items()),
            "HTTP_HX_REQUEST": "true",
            "wsgi.url_scheme": "https",
            "wsgi.input": BytesIO(b""),
            "wsgi.errors": BytesIO(),
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        environ |= {"HTTP_" + name.upper().replace("-", "_"): value for name, value in (headers or {}).items()}
        status = []
        body = b"".join(application(environ, lambda line, headers, exc=None: status.append(line)))
        return int(status[0].split()[0]), body.decode()

    yield call
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _cookies(client) -> dict[str, str]:
    return {name: morsel.value for name, morsel in client.cookies.items()}


def _running(owner, **fields):
    return RenderJobFactory(
        owner=owner,
        state="running",
        progress_step=3,
        progress_total=12,
        num_steps=12,
        started_at=timezone.now() - timedelta(seconds=30),
        **fields,
    )


def _poll_url(client, job) -> str:
    page = client.get(job.get_absolute_url()).content.decode()
    return re.search(r'hx-get="(/clips/[^"]+/progress/\?t=[^"]+)"', page).group(1).replace("&amp;", "&")


def test_the_poll_answers_from_one_query_on_the_lean_path(tester_client, tester, wsgi):
    job = _running(tester)
    url = _poll_url(tester_client, job)

    with CaptureQueriesContext(connection) as queries:
        status, fragment = wsgi(url, _cookies(tester_client))

    assert status == 200, fragment
    assert "step 3 of 12" in fragment and 'id="job-progress"' in fragment
    assert f'hx-get="{url.replace("&", "&amp;")}"' in fragment or f'hx-get="{url}"' in fragment, "it polls on"
    assert "csrfmiddlewaretoken" not in fragment, "the Cancel button sits outside what is polled"
    assert len(queries) == 1, [query["sql"] for query in queries]


def test_the_same_address_works_through_the_full_stack(tester_client, tester):
    job = _running(tester)
    response = tester_client.get(_poll_url(tester_client, job))
    assert response.status_code == 200 and "step 3 of 12" in response.content.decode()


@pytest.mark.parametrize("withdraw", ["revoke", "suspend", "pause"])
def test_a_person_whose_access_is_withdrawn_is_refused_on_the_next_poll(
    tester_client, tester, programme, admin_user, wsgi, withdraw
):
    job = _running(tester)
    url = _poll_url(tester_client, job)
    assert wsgi(url, _cookies(tester_client))[0] == 200

    if withdraw == "pause":
        suspensions.pause(programme=programme, reason="leak found", actor=admin_user)
    else:
        getattr(suspensions, withdraw)(programme=programme, user=tester, reason="leak found", actor=admin_user)

    status, fragment = wsgi(url, _cookies(tester_client))
    assert status == 286 and "access has changed" in fragment and "step" not in fragment


def test_signed_out_another_person_or_a_forged_ticket_is_refused(tester_client, tester, tester2, client, wsgi):
    job = _running(tester)
    url = _poll_url(tester_client, job)
    other = _running(tester2)

    client.force_login(tester2)
    assert wsgi(url, _cookies(client))[0] == 286, "someone else's session with my ticket"
    assert wsgi(url.replace(str(job.pk), str(other.pk)), _cookies(tester_client))[0] == 286, "my ticket, their job"
    assert wsgi(url[:-3] + "abc", _cookies(tester_client))[0] == 286, "a forged ticket"
    assert wsgi(url, {})[0] == 286, "no session cookie"

    tester_client.logout()
    assert wsgi(url, {"sessionid": "gone"})[0] == 286
    # 286 is htmx's "stop polling": the page shows the reason and asks no more. Anyone else gets a plain 403.
    assert tester_client.get(url).status_code == 403


def test_a_deleted_clip_is_refused(tester_client, tester, wsgi):
    job = _running(tester)
    url = _poll_url(tester_client, job)
    RenderJob.objects.filter(pk=job.pk).update(deleted_at=timezone.now())
    assert wsgi(url, _cookies(tester_client))[0] == 286


def test_once_finished_the_poll_fetches_the_full_fragment(tester_client, tester, wsgi):
    job = _running(tester)
    url = _poll_url(tester_client, job)
    RenderJob.objects.filter(pk=job.pk).update(state="failed", error="boom", finished_at=timezone.now())

    status, fragment = wsgi(url, _cookies(tester_client))

    assert status == 200
    assert f'hx-get="/clips/{job.pk}/status/" hx-trigger="load"' in fragment


def test_a_waiting_job_shows_its_place_in_the_queue(tester_client, tester, wsgi):
    ahead = RenderJobFactory(owner=tester, state="queued")  # noqa: F841 (first in the queue)
    job = RenderJobFactory(owner=tester, state="queued")
    url = _poll_url(tester_client, job)
    status, fragment = wsgi(url, _cookies(tester_client))
    assert status == 200 and "in the queue" in fragment


# --- The API's progress -------------------------------------------------------------------------------


def _api_call(wsgi, path: str, token: str | None):
    return wsgi(path, {}, headers={"Authorization": f"Bearer {token}"} if token else {})


def test_the_api_progress_answers_a_read_token_from_two_queries(tester, wsgi):
    job = _running(tester)
    _, token = token_create(user=tester, name="script", scopes=["read"])
    path = f"/api/v1/jobs/{job.pk}/progress/"
    assert _api_call(wsgi, path, token)[0] == 200  # the access decision is now cached

    with CaptureQueriesContext(connection) as queries:
        status, body = _api_call(wsgi, path, token)

    progress = json.loads(body)
    assert status == 200, body
    assert (progress["state"], progress["progress_step"], progress["progress_total"]) == ("running", 3, 12)
    assert progress["stage"] == "" and 0 < progress["progress_percent"] < 100 and progress["estimated_finish_at"]
    assert len(queries) == 2, [query["sql"] for query in queries]


def test_the_api_progress_refuses_what_the_api_refuses(tester, tester2, wsgi):
    job = _running(tester)
    _, token = token_create(user=tester, name="script", scopes=["read"])
    _, generate_only = token_create(user=tester, name="submit", scopes=["generate"])
    _, theirs = token_create(user=tester2, name="theirs", scopes=["read"])
    path = f"/api/v1/jobs/{job.pk}/progress/"

    assert _api_call(wsgi, path, None)[0] == 401
    assert _api_call(wsgi, path, "blt_" + "x" * 40)[0] == 401
    assert _api_call(wsgi, path, generate_only)[0] == 403
    status, body = _api_call(wsgi, path, theirs)
    assert status == 404 and json.loads(body)["code"] == "not_found", "another person's job does not exist for them"


@pytest.mark.parametrize("withdraw", ["revoke", "suspend", "pause"])
def test_the_api_progress_refuses_a_withdrawn_person_on_the_next_request(tester, programme, admin_user, wsgi, withdraw):
    job = _running(tester)
    _, token = token_create(user=tester, name="script", scopes=["read"])
    path = f"/api/v1/jobs/{job.pk}/progress/"
    assert _api_call(wsgi, path, token)[0] == 200

    if withdraw == "pause":
        suspensions.pause(programme=programme, reason="leak found", actor=admin_user)
    else:
        getattr(suspensions, withdraw)(programme=programme, user=tester, reason="leak found", actor=admin_user)

    status, body = _api_call(wsgi, path, token)
    assert status in (401, 403) and "progress_step" not in body, body
