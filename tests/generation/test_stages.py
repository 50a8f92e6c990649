"""Progress to the end (issue 14, item 3): a running job names the stage it is in after its denoising
steps (decoding, marking, encoding, signing, storing); its expected finish includes that work, timed from
the model's recent renders; and the clip page becomes the finished clip, with its times, file and actions,
on the poll that sees it finish."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from generation import estimates, render
from generation.models import RenderJob
from tests.factories import RenderJobFactory

pytestmark = pytest.mark.django_db

Stage = RenderJob.Stage


@pytest.fixture(autouse=True)
def fresh_averages():
    cache.delete("generation.recent-averages")
    yield
    cache.delete("generation.recent-averages")


def test_a_render_goes_through_each_stage_after_its_steps(tester, smoke_model, monkeypatch):
    job = RenderJobFactory(owner=tester, grant=tester.grants.get(), num_steps=3)
    seen = []
    report, stage = render.job_progress, render._stage

    def progress(*, job, step, total):
        report(job=job, step=step, total=total)
        seen.append(RenderJob.objects.values_list("stage", flat=True).get(pk=job.pk))

    def staged(job, name):
        stage(job, name)
        seen.append(RenderJob.objects.values_list("stage", flat=True).get(pk=job.pk))

    monkeypatch.setattr(render, "job_progress", progress)
    monkeypatch.setattr(render, "_stage", staged)

    render.job_render(job_id=job.pk, worker="w")

    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    assert seen == ["denoising", "denoising", "decoding", "encoding", "signing", "storing"]
    assert job.started_at < job.denoised_at < job.finished_at


def test_a_job_claimed_again_starts_its_stages_over(tester):
    from generation.queue import job_claim

    job = RenderJobFactory(
        owner=tester, state="queued", stage=Stage.ENCODING, denoised_at=timezone.now(), progress_step=12
    )
    claimed = job_claim(job_id=job.pk, worker="w2")
    assert (claimed.stage, claimed.denoised_at, claimed.progress_step) == (Stage.DENOISING, None, 0)


def _recent_renders(tester, *, total: float, tail: float, count: int = 3):
    now = timezone.now()
    for n in range(count):
        finished = now - timedelta(minutes=n + 1)
        RenderJobFactory(
            owner=tester,
            state="succeeded",
            started_at=finished - timedelta(seconds=total),
            denoised_at=finished - timedelta(seconds=tail),
            finished_at=finished,
        )


def test_the_expected_finish_adds_the_work_after_the_steps_from_recent_renders(tester):
    _recent_renders(tester, total=60, tail=20)
    job = RenderJobFactory(
        owner=tester,
        state="running",
        progress_step=3,
        progress_total=12,
        started_at=timezone.now() - timedelta(seconds=30),
    )

    left = estimates.estimated_finish(job) - timezone.now()

    assert timedelta(seconds=105) < left < timedelta(seconds=125), "9 steps at 10 s, then 20 s of decoding and encoding"
    assert 19 <= estimates.progress_percent(job, estimates.estimated_finish(job)) <= 25, "30 s of about 140 s"


def test_after_the_steps_the_bar_keeps_moving_and_the_finish_counts_down(tester):
    _recent_renders(tester, total=60, tail=20)
    now = timezone.now()
    job = RenderJobFactory(
        owner=tester,
        state="running",
        stage=Stage.ENCODING,
        progress_step=12,
        progress_total=12,
        started_at=now - timedelta(seconds=60),
        denoised_at=now - timedelta(seconds=5),
    )

    finish = estimates.estimated_finish(job)

    assert timedelta(seconds=14) < finish - timezone.now() < timedelta(seconds=16)
    assert 78 <= estimates.progress_percent(job, finish) <= 82, "60 s of 75 s: not 100 % while it encodes"
    job.denoised_at = now - timedelta(seconds=40)  # slower than usual: no time in the past is promised
    assert estimates.estimated_finish(job) is None and estimates.progress_percent(job, None) == 99


def test_without_recent_renders_the_bar_follows_the_steps(tester):
    job = RenderJobFactory(
        owner=tester,
        state="running",
        progress_step=6,
        progress_total=12,
        started_at=timezone.now() - timedelta(seconds=30),
    )
    finish = estimates.estimated_finish(job)
    assert timedelta(seconds=29) < finish - timezone.now() < timedelta(seconds=31)
    assert estimates.progress_percent(job, finish) == 50


def test_the_clip_page_names_the_stage_and_the_api_gives_it(tester_client, tester):
    _recent_renders(tester, total=60, tail=20)
    now = timezone.now()
    job = RenderJobFactory(
        owner=tester,
        state="running",
        stage=Stage.SIGNING,
        progress_step=12,
        progress_total=12,
        num_steps=12,
        started_at=now - timedelta(seconds=60),
        denoised_at=now - timedelta(seconds=5),
    )

    html = tester_client.get(job.get_absolute_url()).content.decode()
    api = tester_client.get(f"/api/v1/jobs/{job.pk}/").json()

    assert "Signing its Content Credentials…" in html and "step 12 of 12" not in html
    assert "expected to finish around" in html
    bar = re.search(r'<progress id="job-progress" max="100" value="(\d+)"', html)
    assert bar and 75 <= int(bar.group(1)) <= 95, html[html.find('id="job-status"') :][:1500]
    assert api["stage"] == "signing" and 75 <= api["progress_percent"] <= 95 and api["estimated_finish_at"]


def test_the_poll_that_sees_the_clip_finish_brings_its_times_file_and_actions(tester_client, tester, smoke_model):
    job = RenderJobFactory(owner=tester, grant=tester.grants.get(), num_steps=2)
    status_url = f"/clips/{job.pk}/status/"
    waiting = tester_client.get(status_url).content.decode()
    assert "hx-swap-oob" not in waiting and "Rate this clip" not in waiting

    render.job_render(job_id=job.pk, worker="w")
    finished = tester_client.get(status_url).content.decode()

    assert 'id="clip"' in finished, "the video"
    assert 'id="job-settings" hx-swap-oob="true"' in finished
    assert "<dt>Finished</dt>" in finished and "<dt>File</dt>" in finished and "MP4" in finished
    assert '<div id="clip-feedback" hx-swap-oob="true">' in finished and "Rate this clip" in finished
    assert 'name="csrfmiddlewaretoken"' in finished, "the showcase form posts from the swapped-in card"
    assert '<div id="job-cancel" hx-swap-oob="true"></div>' in finished, "no Cancel button on a finished clip"
