"""A real Celery worker, as backlot-worker@<gpu> runs it: the process that renders serves its own metrics on
BACKLOT_WORKER_METRICS_PORT, and they move once it has rendered a job; /readyz passes while it is alive and
fails, naming the model, once it has stopped with a job waiting."""

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from generation.models import RenderJob
from generation.readiness import live_workers_by_model
from tests.conftest import c2pa_environment
from tests.e2e.conftest import wait_for, worker_start, worker_stop
from tests.e2e.servers import free_port, private_filesystem_broker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JOB = {
    "prompt": "a lantern in the fog",
    "model_key": "ltx-video",
    "num_frames": 9,
    "width": 128,
    "height": 128,
    "num_steps": 2,
    "guidance_scale": 3.0,
}


SUCCEEDED = ("backlot_worker_renders_total", (("model", "ltx-video"), ("outcome", "succeeded")))


def _scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_real_worker_serves_its_metrics_and_readiness_follows_it(
    smoke_model, media_root, tmp_path, c2pa_dev_ca, tester, api, client, settings
):
    settings.BACKLOT_METRICS_TOKEN = "monitor"  # /readyz tells only the monitor why it fails
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer monitor"
    port = free_port()
    with private_filesystem_broker(tmp_path / "broker") as broker_env:
        env = {
            "MEDIA_ROOT": str(media_root),
            **c2pa_environment(c2pa_dev_ca),
            **broker_env,
            "BACKLOT_WORKER_METRICS_PORT": str(port),
        }
        process = worker_start(env=env, log_path=tmp_path / "worker.log", hostname="metrics@%h")
        try:
            before = _scrape(port)
            assert client.get("/readyz").status_code == 200
            job_id = api.post("/api/v1/jobs/", JOB, format="json").json()["id"]
            job = wait_for(
                lambda: (row := RenderJob.objects.get(pk=job_id)).is_finished and row,
                timeout=120,
                message="the render",
            )
            assert job.state == "succeeded", job.error
            # The worker counts the render just after its row says so (generation/render.py, job_succeed).
            after = wait_for(
                lambda: (now := _scrape(port)).get(SUCCEEDED, 0) > before.get(SUCCEEDED, 0) and now,
                timeout=30,
                message="the worker's count of the render",
            )
        finally:
            worker_stop(process)

        assert after[SUCCEEDED] == before.get(SUCCEEDED, 0) + 1
        assert after[("backlot_worker_render_seconds_count", (("model", "ltx-video"),))] >= 1
        programme = tester.memberships.get().programme.slug
        gpu = ("backlot_worker_gpu_seconds_total", (("model", "ltx-video"), ("programme", programme)))
        assert after[gpu] == pytest.approx(job.gpu_seconds)

        # Stopped, with a job waiting: no worker can take it (unless the session's own e2e worker is alive in
        # this database too, when this file runs with the others).
        api.post("/api/v1/jobs/", JOB, format="json")
        live = live_workers_by_model().get("ltx-video", [])
        assert not any(name.startswith("metrics@") for name in live)
        response = client.get("/readyz")
        if live:
            pytest.skip(f"another worker ({live[0]}) serves ltx-video in this database")
        assert response.status_code == 503
        assert response.json()["failing"]["workers"].startswith("ltx-video: 1 job waiting and no live worker")
