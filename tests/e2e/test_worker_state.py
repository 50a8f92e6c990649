"""A real Celery worker process writes its own row: registered when ready, busy with the job it
took while rendering, idle again with the job counted once the task ends; the staff queue shows it."""

import pytest
from django.test import Client
from django.urls import reverse

from generation.models import RenderJob, Worker
from generation.registry import MODELS
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _worker() -> Worker | None:
    return Worker.objects.filter(hostname__startswith="e2e@").first()


def test_a_real_worker_reports_its_state_through_a_render(celery_worker, api, admin_user):
    worker = wait_for(_worker, timeout=30, message="the worker's row")
    assert worker.pid == celery_worker.pid
    assert sorted(worker.model_keys) == sorted(MODELS)  # the e2e worker listens on every model's queue
    done_before = worker.jobs_done

    job_id = api.post(
        "/api/v1/jobs/",
        {
            "prompt": "a lantern in the fog",
            "model_key": "ltx-video",
            "num_frames": 121,
            "width": 704,
            "height": 480,
            "num_steps": 100,
            "guidance_scale": 3.0,
        },
        format="json",
    ).json()["id"]
    wait_for(lambda: RenderJob.objects.get(pk=job_id).progress_step >= 1, timeout=120, message="the first step")
    busy = _worker()
    staff = Client()
    staff.force_login(admin_user)
    page = staff.get(reverse("generation_staff:queue")).content.decode()
    api.post(f"/api/v1/jobs/{job_id}/cancel/")
    idle = wait_for(
        lambda: (row := _worker()) and row.state == "idle" and row.jobs_done > done_before and row,
        timeout=60,
        message="the worker to finish the task",
    )

    assert (busy.state, str(busy.current_job_id)) == ("busy", job_id)
    row = page[page.index(f'id="worker-{busy.pk}"') :]
    assert 'data-state="busy"' in row[: row.index("</tr>")] and job_id[:8] in row[: row.index("</tr>")]
    assert f'id="job-{job_id}"' in page and "step " in page
    assert idle.current_job_id is None and idle.jobs_done == done_before + 1
    assert idle.device == "cpu", "the device the render ran on, learned after the first render"
    assert idle.last_seen >= busy.last_seen
