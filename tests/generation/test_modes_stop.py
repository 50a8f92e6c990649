"""Every creative mode is cancellable and revocable like any render (issue 14, item 1): a running render of
each mode, on its real smoke pipeline, stops at its next step (an upscale, which has no denoising steps, before
its clip is encoded) when its owner cancels it or their access is revoked; it is refunded and stores nothing, and
a waiting job of the same mode is cancelled by the revocation too."""

import pytest
from django.core.management import call_command

from access.policy import current_grant
from access.suspensions import revoke
from generation import quota, render, runner
from generation.job_actions import job_cancel
from generation.models import RenderJob
from generation.submission import jobs_submit
from tests.factories import stored_image
from tests.generation.job_requests import job_rendered

pytestmark = pytest.mark.django_db

LTX = {"model_key": "ltx-video", "num_frames": 17, "width": 192, "height": 128, "num_steps": 3}
# Restyle at strength 0.6 denoises 2 of the 4 steps: a step left to stop before.
COG = {"model_key": "cogvideox-2b", "num_frames": 9, "width": 128, "height": 128, "num_steps": 4}
COG5 = {"model_key": "cogvideox-5b", "num_frames": 9, "width": 720, "height": 480, "num_steps": 2}
WAN = {"model_key": "wan2.1-14b", "num_frames": 9, "width": 192, "height": 128, "num_steps": 3}

# (model settings, mode, what the mode takes): every mode of issue 14 on every model that offers it with its own
# pipeline (CogVideoX 5B's restyle is CogVideoX 2B's pipeline on a larger checkpoint).
CASES = {
    "ltx image_to_video": (LTX, "image_to_video", ("image",)),
    "ltx keyframes": (LTX, "keyframes", ("image", "last_image")),
    "ltx extend": ({**LTX, "num_frames": 25}, "extend", ("source",)),
    "ltx upscale": ({**LTX, "width": 384, "height": 256}, "upscale", ("source",)),
    "cogvideox-2b restyle": (COG, "restyle", ("source",)),
    "cogvideox-5b image_to_video": (COG5, "image_to_video", ("image",)),
    "wan2.1-14b image_to_video": (WAN, "image_to_video", ("image",)),
    "wan2.1-14b keyframes": (WAN, "keyframes", ("image", "last_image")),
}


@pytest.fixture(scope="module")
def smoke_models(django_db_blocker):
    with django_db_blocker.unblock():
        for key in ("ltx-video", "cogvideox-2b", "cogvideox-5b", "wan2.1-14b"):
            call_command("smoke_build", key, "--if-missing", verbosity=0)
    yield
    for key in ("cogvideox-2b", "cogvideox-5b", "wan2.1-14b"):
        runner._pipelines.pop(key, None)  # keep the process's memory for the other tests


def _mode_job(owner, case: str, inputs: dict | None = None) -> RenderJob:
    """A queued job of ``case``'s mode, with real inputs: uploaded images, a finished source clip (``inputs``:
    those of an earlier job, to queue another like it)."""
    settings, mode, takes = CASES[case]
    if inputs is not None:
        return _queued(owner, settings, mode, inputs)
    inputs = {}
    if "image" in takes:
        inputs["image"] = stored_image(owner, width=320, height=200)
    if "last_image" in takes:
        inputs["last_image"] = stored_image(owner, colour=(30, 30, 220), width=320, height=200)
    if "source" in takes:
        source_settings = settings
        if mode == "upscale":
            source_settings = {**settings, "width": settings["width"] // 2, "height": settings["height"] // 2}
        if mode == "extend":
            source_settings = {**settings, "num_frames": 17}
        (source,) = jobs_submit(owner=owner, prompt="a storm at sea", guidance_scale=3.0, seed=1, **source_settings)
        inputs["source"], _ = job_rendered(source.pk)
    if mode == "restyle":
        inputs["strength"] = 0.6
    return _queued(owner, settings, mode, inputs)


def _queued(owner, settings: dict, mode: str, inputs: dict) -> RenderJob:
    guidance = 1.0 if settings["model_key"].startswith("wan") else 3.0  # as test_modes_wan: no negative pass
    (job,) = jobs_submit(
        owner=owner, prompt="a red kite at dusk", mode=mode, guidance_scale=guidance, seed=2, **settings, **inputs
    )
    assert job.charged_seconds > 0, "reserved when queued"
    return job


def _stop_at_first_step(monkeypatch, action):
    """Run ``action(job)`` when the render reports its first step (the moment a person's click or an admin's
    revocation lands mid-render), then let the real step check decide; returns the steps reported."""
    reported = []
    check = render.job_progress

    def progress(*, job, step, total):
        reported.append((step, total))
        if len(reported) == 1:
            action(RenderJob.objects.get(pk=job.pk))
        check(job=job, step=step, total=total)

    monkeypatch.setattr(render, "job_progress", progress)
    return reported


def _stopped_refunded_and_stored_nothing(job: RenderJob, reported: list, *, reason: str) -> None:
    job.refresh_from_db()
    assert job.state == RenderJob.State.CANCELLED and reason in job.error, (job.state, job.error)
    assert job.charged_seconds == 0 and not job.output and job.stopped_at is not None
    assert len(reported) == 1, f"stopped at the step it was told, not after {reported}"
    step, total = reported[0]
    assert job.mode == "upscale" or step < total, "a mode with steps stops before its last one"


def _usage_is_only_the_sources(owner) -> None:
    usage = quota.grant_usage(current_grant(owner))
    assert usage["seconds_reserved"] == 0
    sources = RenderJob.objects.filter(owner=owner, mode="text_to_video", state=RenderJob.State.SUCCEEDED)
    assert usage["seconds_total"] == pytest.approx(sum(job.charged_seconds for job in sources))


@pytest.mark.parametrize("case", list(CASES))
def test_a_running_render_of_each_mode_stops_when_its_owner_cancels_it_and_is_refunded(
    smoke_models, tester, monkeypatch, case
):
    job = _mode_job(tester, case)
    reported = _stop_at_first_step(monkeypatch, lambda running: job_cancel(job=running))

    render.job_render(job_id=job.pk, worker="test-worker")

    _stopped_refunded_and_stored_nothing(job, reported, reason="Cancelled by its owner.")
    _usage_is_only_the_sources(tester)


@pytest.mark.parametrize("case", list(CASES))
def test_revoking_the_owner_stops_a_running_render_of_each_mode_and_cancels_a_waiting_one(
    smoke_models, tester, admin_user, monkeypatch, case
):
    job = _mode_job(tester, case)
    _, mode, takes = CASES[case]
    same = {name: getattr(job, name) for name in takes} | ({"strength": job.strength} if mode == "restyle" else {})
    waiting = _mode_job(tester, case, same)  # a second job of the mode, still queued
    programme = current_grant(tester).programme
    reported = _stop_at_first_step(
        monkeypatch, lambda _: revoke(programme=programme, user=tester, reason="Shared a clip", actor=admin_user)
    )

    render.job_render(job_id=job.pk, worker="test-worker")

    _stopped_refunded_and_stored_nothing(job, reported, reason="Shared a clip")
    waiting.refresh_from_db()
    assert (waiting.mode, waiting.state, waiting.charged_seconds) == (mode, RenderJob.State.CANCELLED, 0)
    assert not waiting.output and "Shared a clip" in waiting.error
    render.job_render(job_id=waiting.pk, worker="test-worker")  # a worker that meets it later renders nothing
    waiting.refresh_from_db()
    assert waiting.state == RenderJob.State.CANCELLED and not waiting.output
