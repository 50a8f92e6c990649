from datetime import timedelta

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from access.models import Grant
from access.rates import rate_publish
from feedback import reports
from generation.encoding import encode_mp4
from tests.factories import RenderJobFactory


def finished_clip(owner, *, programme, prompt="a paper boat in a storm", seed=7):
    """A succeeded job with a real H.264 clip in storage, as a worker leaves it."""
    frames = np.random.default_rng(seed).integers(0, 255, size=(9, 64, 64, 3), dtype=np.uint8)
    now = timezone.now()
    job = RenderJobFactory(
        owner=owner,
        grant=Grant.objects.get(user=owner, programme=programme),
        prompt=prompt,
        seed=seed,
        state="succeeded",
        worker="gpu0@render-1",
        attempts=1,
        started_at=now - timedelta(seconds=12),
        finished_at=now,
        gpu_seconds=9.5,
        encode_seconds=0.4,
        progress_step=2,
    )
    job.output.save(f"{job.pk}.mp4", ContentFile(encode_mp4(frames, fps=24)), save=False)
    job.output_bytes = job.output.size
    job.save(update_fields=["output", "output_bytes"])
    return job


@pytest.fixture
def clip(tester, programme):
    return finished_clip(tester, programme=programme)


@pytest.fixture
def red_clip(red_teamer, programme):
    return finished_clip(red_teamer, programme=programme, prompt="a crowd scene", seed=9)


@pytest.fixture
def rates(programme, admin_user):
    """The programme's published rates: bugs and findings by severity, feedback and showcase flat."""
    for kind, severity, points, amount in [
        ("bug", "", 10, "10"),
        ("bug", "high", 50, "40"),
        ("bug", "critical", 100, "100"),
        ("finding", "", 20, "25"),
        ("finding", "critical", 200, "500"),
        ("feedback", "", 1, "2"),
        ("showcase", "", 5, "150"),
    ]:
        rate_publish(
            programme=programme,
            kind=kind,
            severity=severity,
            points=points,
            amount=amount,
            currency="USD",
            actor=admin_user,
        )


@pytest.fixture
def harm(programme, admin_user):
    return reports.harm_category_add(programme=programme, name="Violent content", actor=admin_user)


@pytest.fixture
def admin_client(admin_user):
    """A second browser, so tests can switch between the tester and the admin."""
    browser = Client()
    browser.force_login(admin_user)
    return browser
