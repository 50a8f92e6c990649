"""Films by their content: the upload checks, the marks of several real rendered clips found in one film
(the clips an entry uses), and the blind copy with every piece of metadata stripped."""

import io
from datetime import timedelta

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
from tests.competition.conftest import film, processed, succeeded_job
from tests.factories import RenderJobFactory
from tests.generation.clips import decode, half_size, moving_scene
from tests.generation.conftest import SMOKE_RENDER

pytestmark = pytest.mark.django_db

LIMITS = {"max_seconds": 600, "max_bytes": 50 * 2**20}

TAG = "backlot_job"  # a container tag naming the job, as an entrant's own tools might write


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
        (lambda: b"\x00\x00\x00\x18ftypisom" + bytes(200), {}, "could not be (read|decoded)"),
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
    for check in (films.film_probe, films.film_read):  # the upload request's checks, and the worker's
        with pytest.raises(ValidationError, match=message):
            check(data, **(LIMITS | limits))


def test_a_long_film_is_read_in_at_most_max_windows_spread_over_it(monkeypatch):
    monkeypatch.setattr(films, "MAX_WINDOWS", 5)
    code = 0x2468ACE
    frames = np.concatenate([moving_scene(216, 128, 128), watermark.mark_invisible(moving_scene(24, 128, 128), code)])
    info = films.film_read(encode_mp4(frames, fps=24), **LIMITS)
    assert info.frames == 240 and info.windows_read == 5
    assert info.marks == [code], "the last window is always among those read"


# --- Reading films in the films worker -------------------------------------------------------------


def test_a_film_cut_from_clips_that_went_through_an_attack_chain_still_finds_them(two_clips, call, tester):
    """Each clip leaked and came back (half size, re-encoded at CRF 30) before it was cut into the film."""
    (first, first_mp4), (second, second_mp4) = two_clips
    data = cut(half_size(first_mp4, crf=30), half_size(second_mp4, crf=30))

    submission = processed(save(call, tester, f"{first.job_code} {second.job_code}", data))

    assert set(submission.marks_found) == {first.mark_code, second.mark_code}
    assert submission.processing == Submission.Processing.READY


def test_the_upload_request_checks_only_the_header_and_the_worker_finds_the_damage(call, tester):
    data = film(2)
    start = data.find(b"mdat") + 4
    damaged = data[:start] + bytes(len(data) - start)  # the header is intact, every frame is gone

    submission = save(call, tester, succeeded_job(tester).job_code, damaged)
    assert (submission.processing, submission.processing_percent) == (Submission.Processing.WAITING, 0)
    assert submission.file_bytes == len(damaged) and not submission.blind_file

    submission = processed(submission)
    assert submission.processing == Submission.Processing.FAILED
    assert "could not be decoded" in submission.processing_problem and not submission.blind_file


def test_the_task_delivered_twice_or_for_a_replaced_film_changes_nothing(call, tester):
    job = succeeded_job(tester)
    submission = processed(save(call, tester, job.job_code, film(2)))
    assert submission.processing == Submission.Processing.READY and submission.blind_file
    first_blind, updated = submission.blind_file.name, submission.updated_at

    assert entries.film_process(submission_id=submission.pk, file_name=submission.file.name) is None
    submission.refresh_from_db()
    assert (submission.blind_file.name, submission.updated_at) == (first_blind, updated)

    old_name = submission.file.name
    submission = save(call, tester, job.job_code, film(3, seed=1))
    assert entries.film_process(submission_id=submission.pk, file_name=old_name) is None
    submission.refresh_from_db()
    assert submission.processing == Submission.Processing.WAITING, "the new film waits for its own task"
    assert processed(submission).duration_seconds == pytest.approx(3.0, abs=0.05)


def test_reading_reports_its_progress(call, tester):
    shares = []
    films.film_read(film(5), progress=shares.append, **LIMITS)
    assert shares == [pytest.approx(48 / 120), pytest.approx(96 / 120)]

    submission = save(call, tester, succeeded_job(tester).job_code, film(5))
    seen = []
    saver = entries._progress_saver(submission.pk)
    for share in (0.1, 0.12, 0.5, 1.0):
        saver(share)
        seen.append(Submission.objects.get(pk=submission.pk).processing_percent)
    assert seen == [9, 9, 45, 90], "saved every 5 points at most; 100 only once the outcome is saved"


def test_the_film_task_goes_to_the_films_queue_announced_once_the_entry_commits(
    call, tester, django_capture_on_commit_callbacks
):
    from config.celery import FILM_QUEUE, app

    assert app.amqp.router.route({}, entries.FILM_TASK)["queue"].name == FILM_QUEUE
    assert app.amqp.router.route({}, "competition.films_reannounce")["queue"].name == "sweeps"
    with django_capture_on_commit_callbacks() as callbacks:
        save(call, tester, succeeded_job(tester).job_code, film(2))
    with django_capture_on_commit_callbacks() as edits:
        save(call, tester, succeeded_job(tester).job_code)  # no new film: nothing to read
    assert len(callbacks) == 2 and len(edits) == 1, "old files deleted, and (for a new film) the task announced"


def test_the_entry_page_shows_progress_then_the_outcome(client, call, tester, two_clips):
    (first, first_mp4), (second, second_mp4) = two_clips
    submission = save(call, tester, f"{first.job_code} {second.job_code}", cut(first_mp4))
    client.force_login(tester)
    status_url = f"/competition/{call.pk}/entry-status/"

    page = client.get(call.get_absolute_url()).content.decode()
    assert "Waiting to be read" in page and f'hx-get="{status_url}"' in page and 'id="entry-progress"' in page

    processed(submission)
    fragment = client.get(status_url).content.decode()
    assert "Ready" in fragment and "hx-get" not in fragment, "polling stops with the outcome"
    assert "marks of 1 of your listed clips found" in fragment
    assert f'Job {first.job_code}: <span class="ok">its mark was found' in fragment
    assert f'Job {second.job_code}: <span class="muted">listed; its mark was not found' in fragment


def test_the_entry_page_says_what_to_change_when_the_film_has_a_problem(client, call, tester, two_clips):
    (first, first_mp4), (second, second_mp4) = two_clips
    processed(save(call, tester, first.job_code, cut(first_mp4, second_mp4)))
    client.force_login(tester)
    fragment = client.get(f"/competition/{call.pk}/entry-status/").content.decode()
    assert "Needs a change" in fragment and f"contains your job {second.job_code}: add it" in fragment


def test_only_entries_whose_film_is_ready_are_reviewed_and_credited(
    call, tester, tester2, reviewer, admin_user, programme
):
    from access.rates import rate_publish
    from competition import reviews
    from competition.models import ReviewAssignment
    from feedback.models import LedgerEntry
    from tests.competition.conftest import close

    rate_publish(programme=programme, kind="submission", points=5, amount="20", currency="USD", actor=admin_user)
    ready = processed(save(call, tester, succeeded_job(tester).job_code, film(2)))
    waiting = save(call, tester2, succeeded_job(tester2).job_code, film(2, seed=3))
    close(call)

    reviews.assignment_run(call=call, actor=admin_user)

    assert set(ReviewAssignment.objects.values_list("submission", flat=True)) == {ready.pk}
    credited = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.SUBMISSION)
    assert list(credited.values_list("source_id", "person")) == [(str(ready.pk), tester.pk)]
    assert waiting.processing == Submission.Processing.WAITING


def test_a_film_whose_message_was_lost_is_announced_again_once(call, tester, settings):
    from celery import current_app
    from django.utils import timezone

    settings.BACKLOT_REANNOUNCE_SECONDS = 60
    with current_app.connection_for_write() as connection:
        queue = connection.SimpleQueue("films")
        queue.clear()
        try:
            # Inside the test's transaction the upload's on-commit message is never sent: as if it was lost.
            submission = save(call, tester, succeeded_job(tester).job_code, film(2))
            assert entries.films_reannounce_waiting() == 0, "not overdue yet"
            Submission.objects.filter(pk=submission.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

            assert entries.films_reannounce_waiting() == 1
            assert entries.films_reannounce_waiting() == 0, "the broker holds its message now"
            message = queue.get(timeout=5)
            assert message.headers["task"] == entries.FILM_TASK
            assert message.payload[0] == [submission.pk, submission.file.name]
            message.ack()
        finally:
            queue.clear()
            queue.close()


def test_a_film_whose_reading_stalled_is_read_again_and_a_live_reading_is_left_alone(call, tester, tester2, settings):
    from celery import current_app
    from django.utils import timezone

    settings.BACKLOT_STALE_SECONDS, settings.BACKLOT_REANNOUNCE_SECONDS = 900, 60
    with current_app.connection_for_write() as connection:
        queue = connection.SimpleQueue("films")
        queue.clear()
        try:
            stalled = save(call, tester, succeeded_job(tester).job_code, film(2))
            live = save(call, tester2, succeeded_job(tester2).job_code, film(2, seed=3))
            now = timezone.now()
            # A worker claimed each and vanished with its message; one read recently, one 20 minutes ago.
            Submission.objects.filter(pk=stalled.pk).update(
                processing=Submission.Processing.READING, processing_percent=40, updated_at=now - timedelta(minutes=20)
            )
            Submission.objects.filter(pk=live.pk).update(
                processing=Submission.Processing.READING, processing_percent=40, updated_at=now - timedelta(minutes=2)
            )

            assert entries.films_reannounce_waiting() == 1
            stalled.refresh_from_db()
            live.refresh_from_db()
            assert (stalled.processing, stalled.processing_percent) == (Submission.Processing.WAITING, 0)
            assert (live.processing, live.processing_percent) == (Submission.Processing.READING, 40)
            assert entries.films_reannounce_waiting() == 0, "the broker holds its message now"
            message = queue.get(timeout=5)
            assert message.payload[0] == [stalled.pk, stalled.file.name]
            message.ack()

            processed = entries.film_process(submission_id=stalled.pk, file_name=stalled.file.name)
            assert processed.processing == Submission.Processing.READY
        finally:
            queue.clear()
            queue.close()
