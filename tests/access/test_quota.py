"""Invariant 3 (at submission): a job is charged against its grant once, failed and cancelled work is
refunded, and no burst of concurrent submissions can exceed a quota."""

import threading

import pytest
from django.db import connection
from django.urls import reverse

from access.grants import grant_update
from access.models import Grant
from generation import queue, render
from generation.job_actions import job_cancel
from generation.models import RenderJob
from generation.quota import QuotaExceeded, grant_usage
from generation.registry import model_get
from generation.submission import job_create
from tests.factories import job_settings

SMALL = job_settings()
COST = model_get("ltx-video").estimate_gpu_seconds(num_frames=9, width=64, height=64, num_steps=2)


def _grant(user) -> Grant:
    return Grant.objects.get(user=user)


@pytest.mark.django_db
def test_a_job_reserves_its_estimate_against_the_grant(tester):
    job = job_create(owner=tester, **SMALL)

    assert job.grant == _grant(tester)
    assert job.charged_seconds == COST > 0
    assert grant_usage(job.grant) == {
        "seconds_total": COST,
        "seconds_today": COST,
        "seconds_reserved": COST,
        "active_jobs": 1,
    }


@pytest.mark.django_db
def test_cancelled_and_failed_work_is_refunded(tester):
    cancelled = job_create(owner=tester, **SMALL)
    job_cancel(job=cancelled)
    failed = queue.job_claim(job_id=job_create(owner=tester, **SMALL).pk, worker="w")
    render.job_fail(job=failed, reason="boom")

    assert grant_usage(_grant(tester))["seconds_total"] == 0


@pytest.mark.django_db
def test_a_finished_job_is_charged_what_it_really_used(tester):
    job = queue.job_claim(job_id=job_create(owner=tester, **SMALL).pk, worker="w")
    render.job_succeed(job=job, video=b"\x00", device_seconds=1.25, encode_seconds=0.1)

    assert grant_usage(_grant(tester))["seconds_total"] == 1.25


@pytest.mark.django_db
def test_the_daily_quota_refuses_a_job_that_would_exceed_it(tester):
    grant_update(grant=_grant(tester), gpu_seconds_per_day=int(COST * 2.5))
    job_create(owner=tester, **SMALL)
    job_create(owner=tester, **SMALL)

    with pytest.raises(QuotaExceeded, match="for today are used"):
        job_create(owner=tester, **SMALL)
    assert RenderJob.objects.count() == 2


@pytest.mark.django_db
def test_the_total_quota_and_queue_cap_are_enforced(tester):
    grant_update(grant=_grant(tester), max_queued_jobs=1)
    job_create(owner=tester, **SMALL)
    with pytest.raises(QuotaExceeded, match="the most your grant allows"):
        job_create(owner=tester, **SMALL)

    grant_update(grant=_grant(tester), max_queued_jobs=10, gpu_seconds_total=int(COST * 1.5))
    with pytest.raises(QuotaExceeded, match="of your grant's"):
        job_create(owner=tester, **SMALL)


@pytest.mark.django_db
def test_the_grant_limits_settings_field_by_field(api, tester):
    grant_update(grant=_grant(tester), max_frames=25, max_steps=4, model_keys=["some-other-model"])

    response = api.post("/api/v1/jobs/", {**SMALL, "num_frames": 33, "num_steps": 8}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["num_frames"] == ["Your grant allows at most 25 frames."]
    assert body["num_steps"] == ["Your grant allows at most 4 steps."]
    assert body["model_key"] == ["Your grant does not include LTX-Video."]
    assert not RenderJob.objects.exists()


@pytest.mark.django_db
def test_quota_errors_are_clear_in_the_api_and_on_the_form(api, tester_client, tester):
    grant_update(grant=_grant(tester), max_queued_jobs=0)

    response = api.post("/api/v1/jobs/", SMALL, format="json")
    page = tester_client.post(reverse("generation:job_create"), {**SMALL, "seed": ""})

    assert response.status_code == 403
    assert "the most your grant allows (0)" in response.json()["detail"]
    assert page.status_code == 400 and "the most your grant allows (0)" in page.content.decode()
    assert not RenderJob.objects.exists()


@pytest.mark.django_db
def test_people_without_a_grant_cannot_submit(outsider, client):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied, match="no current grant"):
        job_create(owner=outsider, **SMALL)
    client.force_login(outsider)
    assert client.get(reverse("generation:job_create")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submissions_cannot_exceed_a_grant_with_room_for_ten(tester):
    grant_update(
        grant=_grant(tester), gpu_seconds_total=int(COST * 10) + 1, gpu_seconds_per_day=10_000, max_queued_jobs=100
    )
    start = threading.Barrier(50)
    accepted, refused, errors = [], [], []

    def submit():
        try:
            start.wait()
            accepted.append(job_create(owner=tester, **SMALL).pk)
        except QuotaExceeded:
            refused.append(1)
        except Exception as error:  # pragma: no cover - shown in the assertion below
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert (len(accepted), len(refused)) == (10, 40)
    assert RenderJob.objects.count() == 10
    assert grant_usage(_grant(tester))["seconds_total"] == pytest.approx(COST * 10)
