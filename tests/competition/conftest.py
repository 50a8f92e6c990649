"""A call open for entries now, with a two-criterion rubric; real H.264 films; helpers that move a call's
clock (its dates) rather than the real one."""

import contextlib
import copy
import functools
import hashlib
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from access.models import Role
from access.policy import current_grant
from access.rates import rate_publish
from competition import calls, entries, films, reviews
from competition.models import Call, ReviewAssignment
from generation.encoding import encode_mp4
from tests.conftest import member, with_totp
from tests.factories import RenderJobFactory
from tests.generation.clips import moving_scene

RUBRIC = [
    {"name": "Story", "weight": 2, "scale_max": 5, "levels": ["None", "Thin", "Clear", "Gripping", "Unforgettable"]},
    {"name": "Craft", "weight": 1, "scale_max": 5, "levels": ["Broken", "Rough", "Solid", "Polished", "Masterly"]},
]


def film(seconds: float = 2.0, *, seed: int = 0, metadata=None, size: int = 128) -> bytes:
    """A real H.264 MP4 of moving shapes, ``seconds`` long at 24 fps."""
    return _film(seconds, seed, tuple(sorted((metadata or {}).items())), size)


# Encoded once per process for each set of arguments: most entries in these tests upload the same film.
@functools.lru_cache(maxsize=16)
def _film(seconds: float, seed: int, metadata: tuple, size: int) -> bytes:
    frames = moving_scene(int(seconds * 24), size, size, seed=seed)
    return encode_mp4(frames, fps=24, metadata=dict(metadata))


def succeeded_job(owner):
    return RenderJobFactory(owner=owner, grant=current_grant(owner), state="succeeded")


def make_call(programme, admin, **fields) -> Call:
    now = timezone.now()
    values = {
        "title": "Night films",
        "brief": "A film about the night, under a minute.",
        "rules": "Only your own clips.",
        "submissions_open_at": now - timedelta(hours=1),
        "submissions_close_at": now + timedelta(days=7),
        "judging_ends_at": now + timedelta(days=14),
        "results_at": now + timedelta(days=15),
        "prizes": "A screening",
        "winners_count": 1,
        "reviewers_per_entry": 2,
    } | fields
    opens = values["submissions_open_at"]
    # Criteria before submissions open, as an admin would: afterwards each change needs a notice.
    values["submissions_open_at"] = now + timedelta(minutes=5) if opens <= now else opens
    call = calls.call_create(programme=programme, actor=admin, **values)
    for criterion in RUBRIC:
        calls.criterion_save(call=call, actor=admin, **criterion)
    calls.call_announce(call=call, actor=admin)
    Call.objects.filter(pk=call.pk).update(submissions_open_at=opens)
    call.refresh_from_db()
    return call


def close(call):
    """Move the call's dates so that submissions closed a minute ago and judging is under way."""
    now = timezone.now()
    Call.objects.filter(pk=call.pk).update(
        submissions_open_at=now - timedelta(days=2), submissions_close_at=now - timedelta(minutes=1)
    )
    call.refresh_from_db()
    return call


def processed(submission):
    """The entry once the films worker has read its film (what competition.tasks.process_film runs)."""
    with _readings_remembered():
        return entries.film_process(submission_id=submission.pk, file_name=submission.file.name) or submission


# Reading a film (decoding it and reading the marks of each window, about 0.2 s a window) depends only on its bytes,
# the call's limits and films' constants: each film is read once per process, and the next entry that uploads the
# same film gets a copy of that reading, its progress reports replayed. A reading that fails is not kept.
_film_read = films.film_read
_readings: dict = {}


def _film_read_once(data: bytes, *, max_seconds: float, max_bytes: int, progress=None) -> films.FilmInfo:
    constants = (films.WINDOW, films.STRIDE, films.MAX_WINDOWS, films.READ_SIDE, films.MIN_SECONDS, films.MAX_PIXELS)
    key = (hashlib.sha256(data).digest(), max_seconds, max_bytes, constants, films.PROGRESS_FRAMES)
    if key not in _readings:
        shares = []
        info = _film_read(data, max_seconds=max_seconds, max_bytes=max_bytes, progress=shares.append)
        _readings[key] = info, shares
    info, shares = _readings[key]
    for share in shares if progress else ():
        progress(share)
    return copy.deepcopy(info)


def _readings_remembered():
    """Remembered readings for film_process, unless a test replaced films.film_read with one of its own."""
    if films.film_read is not _film_read:
        return contextlib.nullcontext()
    return mock.patch.object(films, "film_read", _film_read_once)


def enter(call, person, *, title="Moonrise", data=None, job=None):
    """An entry whose film was uploaded and then read, as the films worker does after the upload."""
    job = job or succeeded_job(person)
    submission = entries.submission_save(
        call=call,
        entrant=person,
        title=title,
        logline=f"{title}: a logline",
        credits=f"Directed by {person.display_name}",
        jobs=job.job_code,
        film=data or film(),
    )
    return processed(submission)


def watch_through(assignment, *, share: float = 1.0, minutes: float = 5):
    """The player's reports of someone who opened the film ``minutes`` ago, pressed play at once and
    watched ``share`` of it: the first report of playback then, the rest now."""
    started = timezone.now() - timedelta(minutes=minutes)
    reviewer = assignment.reviewer
    reviews.review_open(assignment=assignment, reviewer=reviewer, at=started)
    reviews.watch_report(assignment=assignment, reviewer=reviewer, ranges=[[0, 0.1]], at=started)
    duration = assignment.submission.duration_seconds
    return reviews.watch_report(assignment=assignment, reviewer=reviewer, ranges=[[0, duration * share]])


@pytest.fixture
def call(programme, admin_user, cohort):
    return make_call(programme, admin_user)


@pytest.fixture
def reviewer2(programme):
    return with_totp(member("reviewer2@example.org", programme=programme, role=Role.REVIEWER))


def review(assignment, story, craft, reason):
    watch_through(assignment)
    criteria = {c.name: c.pk for c in assignment.call.criteria.all()}
    reviews.review_save(
        assignment=assignment,
        reviewer=assignment.reviewer,
        submit=True,
        scores={
            criteria["Story"]: (story, f"{reason} story"),
            criteria["Craft"]: (craft, f"{reason} craft"),
        },
    )


@pytest.fixture
def reviewed(call, tester, tester2, reviewer, reviewer2, admin_user, programme):
    for kind, points, amount in (("submission", 5, "20"), ("prize", 50, "500")):
        rate_publish(programme=programme, kind=kind, points=points, amount=amount, currency="USD", actor=admin_user)
    moon, tide = enter(call, tester, title="Moonrise"), enter(call, tester2, title="Low tide")
    close(call)
    reviews.assignment_run(call=call, actor=admin_user)
    for assignment in ReviewAssignment.objects.select_related("submission", "reviewer", "call"):
        good = assignment.submission == moon
        harsh = assignment.reviewer == reviewer
        review(assignment, (4 if good else 2) - harsh, (3 if good else 2) - harsh, "Bright" if good else "Flat")
    return moon, tide
