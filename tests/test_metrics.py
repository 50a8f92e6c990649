"""/metrics and a worker's own metrics, read as Prometheus reads them (the text exposition, parsed by
prometheus_client's parser): who may read them, and values that move when a job is queued through the API,
rendered by the real smoke model in-process, and failed."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from django.urls import reverse
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from access.leaks import alert_raise, session_credential
from access.models import LeakAlert
from generation import health, metrics, queue, render, runner
from generation.models import RenderJob, Worker
from tests.generation.job_requests import API_BODY

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, (label, value) pairs sorted): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def scrape(client, settings):
    settings.BACKLOT_METRICS_TOKEN = TOKEN

    def read() -> dict:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=")
        return samples(response.content.decode())

    return read


def worker_samples() -> dict:
    return samples(generate_latest(metrics.WORKER_REGISTRY).decode())


# --- Who may read them ---------------------------------------------------------------------------------------


def test_metrics_are_off_until_a_token_or_a_network_is_set(client, settings):
    settings.BACKLOT_METRICS_TOKEN, settings.BACKLOT_METRICS_NETWORKS = "", []
    response = client.get("/metrics")
    assert response.status_code == 404
    assert b"BACKLOT_METRICS_TOKEN" in response.content


def test_a_missing_or_wrong_token_is_refused(client, settings):
    settings.BACKLOT_METRICS_TOKEN = TOKEN
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": ""}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"backlot_" not in response.content
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_an_address_outside_the_allowed_networks_is_refused(client, settings):
    settings.BACKLOT_METRICS_TOKEN, settings.BACKLOT_METRICS_NETWORKS = "", ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200

    settings.BACKLOT_METRICS_TOKEN = TOKEN  # both set: both must hold
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 401
    assert (
        client.get("/metrics", REMOTE_ADDR="192.0.2.7", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403
    )
    ok = client.get("/metrics", REMOTE_ADDR="10.1.2.3", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_a_signed_in_person_gets_nothing_more_without_the_token(client, settings, admin_user):
    settings.BACKLOT_METRICS_TOKEN = TOKEN
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 401


# --- Values that move ------------------------------------------------------------------------------------------


def test_values_move_as_a_job_is_queued_rendered_and_failed(scrape, api, tester, smoke_model, monkeypatch, client):
    model = "ltx-video"
    programme = tester.memberships.get().programme.slug
    before, worker_before = scrape(), worker_samples()
    assert value(before, "backlot_queue_depth", model=model) == 0

    # Queued, through the API.
    response = api.post("/api/v1/jobs/", {**API_BODY, "num_frames": 9, "width": 128, "height": 128, "num_steps": 2})
    assert response.status_code == 201, response.content
    queued = scrape()
    assert value(queued, "backlot_queue_depth", model=model) == 1
    assert value(queued, "backlot_jobs", model=model, state="queued") == 1
    assert value(queued, "backlot_queue_oldest_waiting_seconds", model=model) >= 0
    api_201 = ("backlot_api_requests_total", {"method": "POST", "status": "201"})
    assert value(queued, api_201[0], **api_201[1]) == value(before, api_201[0], **api_201[1]) + 1

    # Rendered by the smoke model, in this process.
    job = RenderJob.objects.get(pk=response.json()["id"])
    render.job_render(job_id=job.pk, worker="gpu0@metrics")
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    rendered, worker_rendered = scrape(), worker_samples()
    assert value(rendered, "backlot_queue_depth", model=model) == 0
    assert value(rendered, "backlot_jobs_finished_window", model=model, state="succeeded") == 1
    assert value(rendered, "backlot_job_render_seconds_bucket", model=model, le="+Inf") == 1
    assert value(rendered, "backlot_job_render_seconds_gsum", model=model) == pytest.approx(job.gpu_seconds)
    for bound in metrics.DURATION_BUCKETS:
        expected = 1 if job.gpu_seconds <= bound else 0
        assert value(rendered, "backlot_job_render_seconds_bucket", model=model, le=str(float(bound))) == expected
    waited = (job.started_at - job.queued_at).total_seconds()
    assert value(rendered, "backlot_job_wait_seconds_gsum", model=model) == pytest.approx(waited, abs=1e-3)
    assert value(rendered, "backlot_job_wait_seconds_bucket", model=model, le="1.0") == (1 if waited <= 1 else 0)
    assert value(rendered, "backlot_job_encode_seconds_bucket", model=model, le="+Inf") == 1
    assert value(rendered, "backlot_job_wait_seconds_bucket", model=model, le="+Inf") == 1
    served = value(rendered, "backlot_gpu_seconds_served_window", model=model, programme=programme)
    assert served == pytest.approx(job.gpu_seconds) and served > 0
    moved = {
        ("backlot_worker_renders_total", (("model", model), ("outcome", "succeeded"))): 1,
        ("backlot_worker_render_seconds_count", (("model", model),)): 1,
        ("backlot_worker_encode_seconds_count", (("model", model),)): 1,
        ("backlot_worker_wait_seconds_count", (("model", model),)): 1,
    }
    for key, step in moved.items():
        assert worker_rendered.get(key, 0) == worker_before.get(key, 0) + step, key
    gpu_key = ("backlot_worker_gpu_seconds_total", (("model", model), ("programme", programme)))
    assert worker_rendered[gpu_key] == pytest.approx(worker_before.get(gpu_key, 0) + job.gpu_seconds)

    # Failed: the job's own fault (a setting the pipeline refuses).
    def refuse(*args, **kwargs):
        raise ValueError("height must be divisible by 32")

    monkeypatch.setattr(runner, "render", refuse)
    second = api.post("/api/v1/jobs/", {**API_BODY, "num_frames": 9, "width": 128, "height": 128, "num_steps": 2})
    render.job_render(job_id=second.json()["id"], worker="gpu0@metrics")
    failed, worker_failed = scrape(), worker_samples()
    assert value(failed, "backlot_jobs_finished_window", model=model, state="failed") == 1
    assert value(failed, "backlot_job_failures_window", model=model, reason="render_error") == 1
    assert value(failed, "backlot_jobs_finished_window", model=model, state="succeeded") == 1
    failures = ("backlot_worker_failures_total", (("model", model), ("reason", "render_error")))
    assert worker_failed.get(failures, 0) == worker_rendered.get(failures, 0) + 1


def test_workers_alive_unhealthy_and_silent_are_counted(scrape):
    Worker.objects.create(
        hostname="gpu0@box", queues="render.ltx-video", started_at=_now(), last_seen=_now(), state="busy"
    )
    Worker.objects.create(hostname="films@box", queues="films", started_at=_now(), last_seen=_now())
    Worker.objects.create(
        hostname="gpu1@box", queues="render.wan2.1-14b", started_at=_now(), last_seen=_now(), unhealthy_since=_now()
    )
    found = scrape()
    assert value(found, "backlot_workers_alive", queue="render.ltx-video", model="ltx-video") == 1
    assert value(found, "backlot_workers_alive", queue="films", model="") == 1
    assert value(found, "backlot_workers_alive", queue="render.wan2.1-14b", model="wan2.1-14b") == 0
    assert value(found, "backlot_worker_unhealthy", worker="gpu1@box") == 1
    assert value(found, "backlot_worker_unhealthy", worker="gpu0@box") == 0
    assert (value(found, "backlot_workers", status="busy"), value(found, "backlot_workers", status="unhealthy")) == (
        1,
        1,
    )
    assert value(found, "backlot_worker_last_seen_seconds", worker="gpu0@box") < 60


def test_leak_alerts_and_sign_in_failures_are_counted(scrape, client, tester):
    before = scrape()
    alert_raise(
        kind=LeakAlert.Kind.NETWORKS, user=tester, credential=session_credential("k"), session_key="k", networks=5
    )
    response = client.post(reverse("account_login"), {"login": tester.email, "password": "not the password"})
    assert response.status_code == 200  # the form again, with its error
    after = scrape()
    assert value(after, "backlot_leak_alerts", kind="networks", state="open") == 1
    wrong = ("backlot_sign_in_failures_total", {"reason": "wrong_credentials"})
    assert value(after, wrong[0], **wrong[1]) == value(before, wrong[0], **wrong[1]) + 1


def test_every_failure_message_the_code_writes_has_its_reason():
    assert metrics.failure_reason(queue.SPENT_REASON) == "worker_lost"
    assert metrics.failure_reason(health.GIVEN_UP.format(count=3, reason="x.")) == "workers_unhealthy"
    assert metrics.failure_reason(health.FAILED_TOO_OFTEN.format(count=3, reason="x.")) == "worker_faults"
    assert metrics.failure_reason("The render took longer than the 3540 s limit.") == "time_limit"
    assert metrics.failure_reason("The render failed: RuntimeError: boom") == "render_error"
    assert metrics.failure_reason(render._postprocess_failure(OSError(28, "No space left on device"))) == "storage_full"
    assert metrics.failure_reason(render._postprocess_failure(ValueError("bad"))) == "encoding"
    assert metrics.failure_reason("something new") == "other"
    assert set(metrics.FAILURE_REASONS) >= {"worker_lost", "time_limit", "other"}


def test_a_worker_serves_its_own_metrics_on_its_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert metrics.worker_metrics_serve(port=port, host="127.0.0.1")
    metrics.WORKER_RENDERS.labels("ltx-video", "succeeded").inc(0)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        found = samples(answer.read().decode())
    assert ("backlot_worker_renders_total", (("model", "ltx-video"), ("outcome", "succeeded"))) in found
    assert not any(name.startswith("backlot_queue") for name, _ in found), "the fleet is the web's, not the worker's"
    assert not metrics.worker_metrics_serve(port=port, host="127.0.0.1"), "a second server on a taken port is refused"


def _now():
    from django.utils import timezone

    return timezone.now()
