"""Mark versions on jobs: every job records the version that marked its clip, and clips marked with
an older version keep tracing to their job."""

import pytest

from access.policy import current_grant
from generation import render, trace, watermark
from generation.encoding import encode_mp4
from generation.models import RenderJob
from tests.factories import RenderJobFactory
from tests.generation.conftest import SMOKE_RENDER
from tests.generation.footage import CONTENTS

pytestmark = pytest.mark.django_db


def test_new_jobs_are_marked_with_the_current_version(tester):
    job = RenderJobFactory(owner=tester, grant=current_grant(tester))
    assert RenderJob.objects.get(pk=job.pk).mark_version == watermark.CURRENT_VERSION == 2


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_clip_traces_to_its_job_whatever_version_marked_it(tester, version):
    job = RenderJobFactory(owner=tester, grant=current_grant(tester), mark_version=version)
    clip = encode_mp4(watermark.mark_clip(CONTENTS["skin"](24, 432, 768, seed=version), job), fps=24, crf=28)
    result = trace.trace_clip(clip)
    assert result.found and result.job == job and result.mark_version == version


def test_a_render_records_the_version_that_marked_it(smoke_model, tester):
    job = RenderJobFactory(owner=tester, grant=current_grant(tester), mark_version=2, **SMOKE_RENDER)
    render.job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    assert job.mark_version == watermark.version_for(job.height, job.width) == 3  # a 256 x 256 smoke render
    with job.output.open("rb") as stored:
        assert trace.trace_clip(stored.read()).mark_version == 3


def test_frames_under_480_pixels_on_their_shorter_side_are_marked_with_version_3():
    assert watermark.version_for(128, 400) == 3 and watermark.version_for(256, 256) == 3
    assert watermark.version_for(192, 320) == 3 and watermark.version_for(479, 854) == 3
    # CogVideoX's and Wan's 480p frames: version 2 traced them far better (watermark.SMALL_BELOW).
    assert watermark.version_for(480, 720) == 2 and watermark.version_for(480, 832) == 2
    assert watermark.version_for(512, 768) == 2 and watermark.version_for(720, 480) == 2
    small = CONTENTS["gradient"](12, 128, 128)
    clip = encode_mp4(watermark.mark_invisible(small, 5), fps=24)
    assert trace.mean_luma(clip)[0].shape == (128, 128)
    assert watermark.read_mean_luma(trace.mean_luma(clip)[0]).version == 3
