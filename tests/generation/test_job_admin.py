"""The Django admin's job list: read-only, and a job's row can never be deleted there (it is kept for
quota, audit and leak tracing; owners delete their clips from the gallery, which keeps the row)."""

import pytest
from django.test import Client

from generation.models import RenderJob
from tests.conftest import with_totp
from tests.factories import RenderJobFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client():
    client = Client()
    client.force_login(with_totp(UserFactory(is_staff=True, is_superuser=True)))
    return client


def test_even_a_superuser_cannot_delete_a_job_in_the_admin(superuser_client, tester):
    job = RenderJobFactory(owner=tester, state=RenderJob.State.SUCCEEDED)

    listing = superuser_client.get("/admin/generation/renderjob/")
    assert listing.status_code == 200 and str(job.pk) in listing.content.decode()
    assert "action-checkbox" not in listing.content.decode() and "delete_selected" not in listing.content.decode()
    assert superuser_client.get(f"/admin/generation/renderjob/{job.pk}/delete/").status_code == 403
    assert superuser_client.post(f"/admin/generation/renderjob/{job.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = superuser_client.post(
        "/admin/generation/renderjob/", {"action": "delete_selected", "_selected_action": [job.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert RenderJob.objects.filter(pk=job.pk).exists()
