"""The staff queue page's last 24 hours: what an operator watches (clips made, failures and their
reasons, GPU seconds), per model."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generation.models import RenderJob
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("generation_staff:queue")


def _finished(owner, *, state, hours_ago=1.0, model_key="ltx-video", **fields):
    job = RenderJobFactory(owner=owner, model_key=model_key, state=state, **fields)
    RenderJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(hours=hours_ago))
    return job


def test_the_queue_page_shows_each_models_last_day_and_the_latest_failure_reasons(client, admin_user, tester):
    _finished(tester, state="succeeded", gpu_seconds=30.5)
    _finished(tester, state="succeeded", gpu_seconds=12)
    _finished(tester, state="failed", error="The clip could not be stored: the media storage is full.")
    _finished(tester, state="cancelled")
    _finished(tester, state="succeeded", gpu_seconds=7, model_key="mochi-1")
    _finished(tester, state="failed", error="An old failure", hours_ago=30)
    _finished(tester, state="succeeded", gpu_seconds=999, hours_ago=30)
    client.force_login(admin_user)

    html = client.get(QUEUE).content.decode()

    ltx = html[html.index('id="recent-ltx-video"') :]
    assert ltx.startswith('id="recent-ltx-video"><td>LTX-Video</td><td>2</td><td>1</td><td>1</td><td>43</td>')
    assert "<td>Mochi 1 preview</td><td>1</td><td>0</td><td>0</td><td>7</td>" in html
    assert "the media storage is full" in html and "tester@example.org" in html
    assert "An old failure" not in html and "999" not in html


def test_the_last_day_is_not_shown_to_a_programme_admin_without_staff_rights(client, tester, programme):
    from tests.conftest import member, with_totp

    admin = with_totp(member("padmin@example.org", programme=programme, role="admin"))
    _finished(tester, state="failed", error="secret reason")
    client.force_login(admin)

    response = client.get(QUEUE)

    assert response.status_code == 404 and b"secret reason" not in response.content
