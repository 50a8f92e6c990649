"""Invariant 2 with a real worker: revoking a person stops their render at its next denoising step,
and the worker goes on to other people's jobs."""

import pytest
from django.utils import timezone

from access.suspensions import revoke
from generation.models import RenderJob
from generation.submission import job_create
from tests.e2e.conftest import wait_for
from tests.factories import job_settings

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LONG = job_settings("a slow storm over the sea", num_frames=121, width=704, height=480, num_steps=100)
SHORT = job_settings("after")


def test_revoking_a_person_stops_their_running_render_at_the_next_step(celery_worker, tester, tester2, admin_user):
    job = job_create(owner=tester, **LONG)
    wait_for(lambda: RenderJob.objects.get(pk=job.pk).progress_step >= 2, timeout=120, message="two steps")
    others = job_create(owner=tester2, **SHORT)

    revoked_at = timezone.now()
    revoke(programme=tester.grants.get().programme, user=tester, reason="Leaked clips", actor=admin_user)

    stopped = wait_for(lambda: RenderJob.objects.get(pk=job.pk).stopped_at, timeout=30, message="the worker to stop")
    job.refresh_from_db()
    latency = (stopped - revoked_at).total_seconds()
    print(f"\nrevocation stopped the running render after {latency:.3f} s (at step {job.progress_step} of 100)")
    assert job.state == RenderJob.State.CANCELLED and "Leaked clips" in job.error
    assert job.progress_step < 100 and not job.output and job.charged_seconds == 0
    assert latency < 10
    # The worker is free again and renders the next person's job.
    wait_for(lambda: RenderJob.objects.get(pk=others.pk).is_finished, timeout=60, message="the other job")
    assert RenderJob.objects.get(pk=others.pk).state == RenderJob.State.SUCCEEDED
