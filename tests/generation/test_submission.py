"""One submission path, generation.submission.jobs_submit, for the generate page and the API: the rate limit,
idempotency, the refund of a refused attempt and the burst check are inside it, not in either view."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from access.leaks import session_credential
from access.models import Grant, LeakAlert
from core.ratelimits import RateLimited
from generation import api, views
from generation.models import RenderJob
from generation.quota import QuotaExceeded
from generation.submission import IdempotencyConflict, jobs_submit
from tests.factories import job_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_per_hour(settings):
    settings.BACKLOT_RATE_LIMITS = {**settings.BACKLOT_RATE_LIMITS, "submissions": "2/h"}


def test_the_page_and_the_api_both_submit_through_jobs_submit():
    for module in (views, api):
        source = Path(module.__file__).read_text()
        assert "submission.jobs_submit(" in source
        assert "rate_consume" not in source and "burst_check" not in source, f"{module.__name__} wraps the service"


def test_a_refused_submission_is_not_counted_against_the_rate_limit(tester, two_per_hour):
    grant = Grant.objects.get(user=tester)
    Grant.objects.filter(pk=grant.pk).update(gpu_seconds_per_day=1)
    for _ in range(3):
        with pytest.raises(QuotaExceeded):
            jobs_submit(owner=tester, **job_settings())
    with pytest.raises(ValidationError):
        jobs_submit(owner=tester, **job_settings(prompt=""))
    Grant.objects.filter(pk=grant.pk).update(gpu_seconds_per_day=10**6)
    assert len(jobs_submit(owner=tester, count=2, **job_settings())) == 2, "the refused attempts cost nothing"
    with pytest.raises(RateLimited):
        jobs_submit(owner=tester, **job_settings())
    assert RenderJob.objects.count() == 2


def test_a_replayed_idempotency_key_returns_the_job_and_is_not_counted(tester, two_per_hour):
    (first,) = jobs_submit(owner=tester, idempotency_key="k-1", **job_settings())
    for _ in range(3):
        (again,) = jobs_submit(owner=tester, idempotency_key="k-1", **job_settings())
        assert again.pk == first.pk and again.replayed
    with pytest.raises(IdempotencyConflict):
        jobs_submit(owner=tester, idempotency_key="k-1", **job_settings(num_steps=3))
    jobs_submit(owner=tester, **job_settings())
    assert RenderJob.objects.count() == 2


def test_too_many_variations_are_refused_in_words_that_say_what_happened(tester):
    Grant.objects.filter(user=tester).update(max_queued_jobs=3)
    jobs_submit(owner=tester, **job_settings())

    with pytest.raises(QuotaExceeded) as refused:
        jobs_submit(owner=tester, count=4, **job_settings())

    assert str(refused.value) == (
        "You asked for 4 variations; your grant lets 3 jobs wait or run at once, and you have 1 now."
    )
    assert RenderJob.objects.count() == 1
    assert len(jobs_submit(owner=tester, count=2, **job_settings())) == 2


def test_an_idempotency_key_names_one_job(tester):
    with pytest.raises(ValidationError, match="one variation"):
        jobs_submit(owner=tester, count=2, idempotency_key="k-2", **job_settings())
    with pytest.raises(ValidationError, match="at most 80 characters"):
        jobs_submit(owner=tester, idempotency_key="k" * 81, **job_settings())
    assert not RenderJob.objects.exists()


def test_a_burst_of_submissions_raises_a_leak_alert(tester, settings):
    settings.LEAK_BURST_MIN_JOBS, settings.LEAK_BURST_FACTOR = 2, 1.0
    credential = {"credential": session_credential("s-1"), "session_key": "s-1"}
    jobs_submit(owner=tester, credential=credential, **job_settings())
    assert not LeakAlert.objects.exists()
    jobs_submit(owner=tester, credential=credential, count=2, **job_settings())
    assert LeakAlert.objects.filter(user=tester, kind=LeakAlert.Kind.BURST).exists()


@pytest.mark.parametrize("model_key", ["ltx-video", "cogvideox-2b", "mochi-1", "wan2.1-1.3b", "wan2.1-14b"])
def test_no_model_renders_a_clip_too_small_for_its_invisible_mark(tester, model_key):
    """A frame must hold one tile of the smallest mark (version 3's 128 pixels): a 96-pixel clip traced 1 of 16
    random codes, so a leaker could render below it to go untraced."""
    from generation.marks import v3
    from generation.registry import MIN_SIZE, model_get

    assert MIN_SIZE == v3.TILE
    spec = model_get(model_key)
    assert spec.min_size >= MIN_SIZE
    small = job_settings(model_key=model_key, width=96, height=spec.default_height, num_frames=spec.default_frames)
    with pytest.raises(ValidationError) as refused:
        jobs_submit(owner=tester, **small)
    assert f"from {spec.min_size} to" in str(refused.value)
    assert not RenderJob.objects.exists()
