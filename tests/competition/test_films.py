"""Films by their content: the upload checks, the marks of several real rendered clips found in one film
(the clips an entry uses), and the blind copy with every piece of metadata stripped."""

import io

import av
import numpy as np
import pytest
from django.core.exceptions import ValidationError

from access.policy import current_grant
from competition import entries, films
from competition.models import Submission
from generation import render, watermark
from generation.encoding import encode_mp4, read_metadata
from generation.models import RenderJob
from generation.provenance import TAG
from tests.competition.conftest import film, processed, succeeded_job
from tests.factories import RenderJobFactory
from tests.generation.clips import decode, moving_scene
from tests.generation.conftest import SMOKE_RENDER

pytestmark = pytest.mark.django_db

LIMITS = {"max_seconds": 600, "max_bytes": 50 * 2**20}


def rendered(owner, seed):
    """A job rendered for real by the smoke model through job_render: marked, encoded, stored."""
    job = RenderJobFactory(owner=owner, grant=current_grant(owner), **(SMOKE_RENDER | {"seed": seed}))
    render.job_render(job_id=job.pk, worker="w")
    job.refresh_from_db()
    assert job.state == RenderJob.State.SUCCEEDED, job.error
    with job.output.open("rb") as stored:
        return job, stored.read()


def cut(*clips: bytes) -> bytes:
    """A film cut from whole clips, one after the other, encoded again (as an editor exports it)."""
    return encode_mp4(np.concatenate([decode(clip) for clip in clips]), fps=24, crf=20)


@pytest.fixture
def two_clips(smoke_model, tester):
    return rendered(tester, 11), rendered(tester, 12)


def test_both_clips_of_a_film_cut_from_two_renders_are_found(two_clips, call, tester):
    (first, first_mp4), (second, second_mp4) = two_clips
    data = cut(first_mp4, second_mp4)
    info = films.film_read(data, **LIMITS)
    assert set(info.marks) == {first.mark_code, second.mark_code}
    assert info.frames == 50 and info.duration == pytest.approx(50 / 24, abs=0.05) and info.windows_read == 4

    unlisted = succeeded_job(tester)
    submission = entries.submission_save(
        call=call,
        entrant=tester,
        title="Two birds",
        logline="l",
        credits="c",
        jobs=f"{first.job_code}, {second.job_code} {unlisted.job_code}",
        film=data,
    )
    assert submission.processing == Submission.Processing.WAITING and submission.marks_found == []
    submission = processed(submission)
    assert submission.processing == Submission.Processing.READY and submission.processing_percent == 100
    matched = dict(submission.listed_jobs.values_list("job_id", "matched"))
    assert matched == {first.pk: True, second.pk: True, unlisted.pk: False}
    assert set(submission.marks_found) == {first.mark_code, second.mark_code} and submission.unknown_marks == []


def save(call, person, jobs, data=None):
    return entries.submission_save(call=call, entrant=person, title="T", logline="l", credits="c", jobs=jobs, film=data)


def test_a_film_with_an_unlisted_clip_of_ones_own_needs_the_list_changed(two_clips, call, tester):
    (first, first_mp4), (second, second_mp4) = two_clips
    submission = processed(save(call, tester, first.job_code, cut(first_mp4, second_mp4)))

    assert submission.processing == Submission.Processing.PROBLEM
    assert f"contains your job {second.job_code}: add it" in submission.processing_problem
    assert not submission.listed_jobs.filter(matched=True).exists()

    with pytest.raises(ValidationError, match=f"contains your job {second.job_code}: add it"):
        save(call, tester, f"{first.job_code} {unlisted_code(tester)}")  # still not listed: refused at once
    submission = save(call, tester, f"{first.job_code} {second.job_code}")  # the film stays; no new reading
    assert (submission.processing, submission.processing_problem) == (Submission.Processing.READY, "")
    assert set(submission.listed_jobs.values_list("matched", flat=True)) == {True}


def unlisted_code(person):
    return succeeded_job(person).job_code


def test_a_film_with_someone_elses_clip_is_refused(smoke_model, call, tester, tester2):
    mine, mine_mp4 = rendered(tester, 11)
    theirs, theirs_mp4 = rendered(tester2, 12)
    submission = processed(save(call, tester, mine.job_code, cut(mine_mp4, theirs_mp4)))
    assert submission.processing == Submission.Processing.PROBLEM
    assert f"marked {theirs.job_code}, which is not yours" in submission.processing_problem
    with pytest.raises(ValidationError, match=f"{theirs.job_code} is not one of your jobs"):
        save(call, tester, theirs.job_code, theirs_mp4)


def test_the_blind_copy_has_no_metadata_and_the_same_pictures(tester):
    original = encode_mp4(
        moving_scene(48, 128, 128),
        fps=24,
        metadata={
            TAG: '{"claim": {"job": "secret-job"}}',
            "comment": "Made by Tess Tester",
            "title": "Tess's film",
            "artist": "tester@example.org",
        },
    )
    assert read_metadata(original)["artist"] == "tester@example.org" and b"x264" in original
    blind = films.blind_copy(original)
    tags = read_metadata(blind)
    assert set(tags) <= {"major_brand", "minor_version", "compatible_brands"}, tags
    for secret in (b"Tess", b"tester@example.org", b"secret-job", TAG.encode(), b"x264", b"Lavf"):
        assert secret not in blind
    with av.open(io.BytesIO(blind)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and not set(stream.metadata) - {"language", "handler_name"}
        assert stream.metadata.get("handler_name", "VideoHandler") == "VideoHandler"
    np.testing.assert_array_equal(decode(blind), decode(original))


def _mpeg4() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for frame in moving_scene(30, 64, 64):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "limits", "message"),
    [
        (lambda: b"", {}, "The file is empty"),
        (lambda: b"\x1a\x45\xdf\xa3" + bytes(100), {}, "not an MP4"),
        (lambda: b"\x00\x00\x00\x18ftypisom" + bytes(200), {}, "could not be decoded"),
        (_mpeg4, {}, "encoded as mpeg4; films must be H.264"),
        (lambda: film(3), {"max_seconds": 2}, "up to 2 s; this one lasts 3.0 s"),
        (lambda: film(0.5), {}, "at least 1 s"),
        (lambda: film(2), {"max_bytes": 2**20 // 4}, "Films up to 0 MB"),
    ],
    ids=["empty", "webm", "broken", "mpeg4", "too-long", "too-short", "too-big"],
)
def test_bad_films_are_refused_with_a_clear_error(make, limits, message, call, tester):
    data = make()
    if limits.get("max_bytes"):
        data = data + bytes(2**20 // 4)  # padding past the limit
    with pytest.raises(ValidationError, match=message):
        films.film_read(data, **(LIMITS | limits))


def test_a_long_film_is_read_in_at_most_max_windows_spread_over_it(monkeypatch):
    monkeypatch.setattr(films, "MAX_WINDOWS", 5)
    code = 0x2468ACE
    frames = np.concatenate([moving_scene(216, 128, 128), watermark.mark_invisible(moving_scene(24, 128, 128), code)])
    info = films.film_read(encode_mp4(frames, fps=24), **LIMITS)
    assert info.frames == 240 and info.windows_read == 5
    assert info.marks == [code], "the last window is always among those read"
