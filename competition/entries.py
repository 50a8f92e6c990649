"""Entries: a film entered in a call, the platform jobs it lists and the marks found in it (film_marks_match:
every mark must name one of the entrant's listed jobs), and the participation credit each entry earns once
submissions close (the programme's `submission` rate, credited when reviewers are assigned and again, to
no effect, at publication)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from competition import films
from competition.calls import may_enter
from competition.models import (
    Call,
    Submission,
    SubmissionJob,
)
from feedback.ledger import ledger_credit
from feedback.models import LedgerEntry
from generation.models import CODE_ALPHABET, RenderJob, job_code

FILM_TASK = "competition.film_process"
log = logging.getLogger(__name__)
_CODE = re.compile(rf"[{CODE_ALPHABET}]{{7}}")


def job_codes_parse(text: str) -> list[str]:
    """Job codes as typed ("3ZK9QWA, 8PQ2M1X"), upper-cased, each once, in order; raises on anything else."""
    codes = []
    for token in re.split(r"[\s,;]+", text.strip().upper()):
        if not token:
            continue
        if not _CODE.fullmatch(token):
            raise ValidationError({"jobs": f"“{token}” is not a job code: job codes have 7 letters and digits."})
        if token not in codes:
            codes.append(token)
    return codes


def _code_to_int(code: str) -> int:
    value = 0
    for char in code:
        value = value * 32 + CODE_ALPHABET.index(char)
    return value


def _listed_jobs(entrant, codes: list[str]) -> list[RenderJob]:
    if not codes:
        raise ValidationError({"jobs": "List the platform jobs (their 7-character codes) your film uses."})
    jobs = {job.mark_code: job for job in RenderJob.objects.filter(mark_code__in=[_code_to_int(c) for c in codes])}
    listed = []
    for code in codes:
        job = jobs.get(_code_to_int(code))
        if job is None or job.owner_id != entrant.pk:
            raise ValidationError({"jobs": f"{code} is not one of your jobs."})
        if job.state != RenderJob.State.SUCCEEDED:
            raise ValidationError({"jobs": f"Job {code} did not succeed ({job.get_state_display().lower()})."})
        listed.append(job)
    return listed


def film_marks_match(*, entrant, listed: list[RenderJob], marks: list[int]) -> tuple[set, list[str]]:
    """Which listed jobs' marks were found, and the codes of marks that name no job here. A mark of a job
    here that is not listed refuses the entry: the entrant's own (list it) or someone else's."""
    listed_codes = {job.mark_code: job for job in listed}
    others = {job.mark_code: job for job in RenderJob.objects.filter(mark_code__in=marks).only("mark_code", "owner")}
    matched, unknown = set(), []
    for mark in marks:
        if mark in listed_codes:
            matched.add(listed_codes[mark].pk)
        elif mark in others and others[mark].owner_id == entrant.pk:
            raise ValidationError({"jobs": f"The film contains your job {job_code(mark)}: add it to the list."})
        elif mark in others:
            raise ValidationError(
                {
                    "file": f"The film contains a clip marked {job_code(mark)}, which is not yours. "
                    "Entries may use only their entrant's own clips."
                }
            )
        else:
            unknown.append(job_code(mark))
    return matched, unknown


def submission_save(
    *, call: Call, entrant, title: str, logline: str, credits: str, jobs: str, film: bytes | None = None, at=None
) -> Submission:
    """Enter ``call`` or change the entry, until submissions close. ``film`` (MP4 bytes) is required for a
    new entry and replaces the file of an existing one."""
    at = at or timezone.now()
    decision = may_enter(entrant, call)
    if not decision:
        raise PermissionDenied(decision.reason)
    if not call.announced_at or at < call.submissions_open_at:
        raise ValidationError("Submissions for this call have not opened yet.")
    if at >= call.submissions_close_at:
        raise ValidationError("Submissions for this call closed; late entries are refused.")
    errors = {}
    for name, value, limit in (("title", title, 160), ("logline", logline, 400), ("credits", credits, 5000)):
        if not value.strip():
            errors[name] = "This is required."
        elif len(value) > limit:
            errors[name] = f"At most {limit} characters."
    if errors:
        raise ValidationError(errors)
    listed = _listed_jobs(entrant, job_codes_parse(jobs))
    existing = Submission.objects.filter(call=call, entrant=entrant).first()
    if existing is None and film is None:
        raise ValidationError({"file": "Upload the film as an MP4."})
    if film is not None:
        films.film_probe(film, max_seconds=call.max_duration_seconds, max_bytes=call.max_megabytes * 2**20)
    settled = film is None and existing.processing in (Submission.Processing.READY, Submission.Processing.PROBLEM)
    matched = set()
    if settled:  # the film was read already: the new list is checked against its marks now
        matched, unknown = film_marks_match(entrant=entrant, listed=listed, marks=existing.marks_found)
    with transaction.atomic():
        submission = existing or Submission(call=call, entrant=entrant)
        submission.title, submission.logline, submission.credits = title.strip(), logline.strip(), credits.strip()
        old_files = []
        if film is not None:
            old_files = [f.name for f in (submission.file, submission.blind_file) if f]
            submission.file.save("film.mp4", ContentFile(film), save=False)
            submission.blind_file = ""
            submission.file_bytes, submission.duration_seconds, submission.width, submission.height = len(film), 0, 0, 0
            submission.marks_found, submission.unknown_marks, submission.windows_read = [], [], 0
            submission.processing, submission.processing_percent = Submission.Processing.WAITING, 0
            submission.processing_problem = ""
        elif settled:
            submission.unknown_marks = unknown
            submission.processing, submission.processing_problem = Submission.Processing.READY, ""
        submission.save()
        submission.listed_jobs.all().delete()
        SubmissionJob.objects.bulk_create(
            [SubmissionJob(submission=submission, job=job, matched=job.pk in matched) for job in listed]
        )
        storage = submission.file.storage
        transaction.on_commit(lambda: [storage.delete(name) for name in old_files])
        if film is not None:
            name = submission.file.name
            transaction.on_commit(lambda: film_announce(submission.pk, name))
    return submission


def film_announce(submission_id: int, file_name: str) -> None:
    """Queue the reading of a stored film. The task is sent by name (routed to the films queue in
    config/celery.py), so this module never imports the task that calls it. A broker that cannot be
    reached does not fail the upload, which is saved: films_reannounce_waiting sends the message later."""
    from celery import current_app

    try:
        current_app.send_task(FILM_TASK, args=[submission_id, file_name])
    except Exception:
        log.exception("competition.film_announce_failed submission=%s", submission_id)


def films_reannounce_waiting() -> int:
    """Films still waiting to be read whose message the broker no longer holds (never sent, or lost with
    a broker restarted without persistence) are announced again: those waiting longer than
    BACKLOT_REANNOUNCE_SECONDS, less the messages still in the films queue. A message too many finds the
    film claimed and does nothing. A film whose reading has shown no progress for BACKLOT_STALE_SECONDS
    (its worker and its message both gone) waits again first. Returns how many were announced (the
    sweeper runs it every minute)."""
    from celery import current_app

    from generation.broker import messages_waiting

    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.BACKLOT_STALE_SECONDS)
    stalled = Submission.objects.filter(processing=Submission.Processing.READING, updated_at__lt=stale_before)
    for submission_id in stalled.values_list("pk", flat=True):
        # updated_at stays old: the film is overdue at once, and announced below unless its message is queued.
        if stalled.filter(pk=submission_id).update(processing=Submission.Processing.WAITING, processing_percent=0):
            log.warning("competition.film_reading_stalled submission=%s", submission_id)
    waited_before = now - timedelta(seconds=settings.BACKLOT_REANNOUNCE_SECONDS)
    waiting = Submission.objects.filter(processing=Submission.Processing.WAITING)
    overdue = waiting.filter(updated_at__lt=waited_before).order_by("updated_at", "pk")
    if not overdue.exists():
        return 0
    in_broker = messages_waiting(current_app.amqp.router.route({}, FILM_TASK)["queue"].name)
    if in_broker is None:
        return 0
    missing = max(0, min(overdue.count(), waiting.count() - in_broker))
    for submission_id, file_name in overdue.values_list("pk", "file")[:missing]:
        film_announce(submission_id, file_name)
    if missing:
        log.warning("competition.films_reannounced count=%d", missing)
    return missing


def _progress_saver(submission_id: int):
    last = [-1]

    def save(share: float) -> None:
        percent = min(90, int(share * 90))
        if percent >= last[0] + 5:
            last[0] = percent
            # updated_at is the reading's sign of life (films_reannounce_waiting): update() skips auto_now.
            Submission.objects.filter(pk=submission_id).update(processing_percent=percent, updated_at=timezone.now())

    return save


def film_process(*, submission_id: int, file_name: str) -> Submission | None:
    """Read the marks of an entry's stored film, make its blind copy, and match the marks against the
    clips the entry lists; the outcome is saved on the entry (ready, problem or failed). Does nothing when
    the entry is gone, already processed, or has a newer film than ``file_name``: a task delivered twice,
    or overtaken by another upload, changes nothing."""
    waiting = [Submission.Processing.WAITING, Submission.Processing.READING]
    claimed = Submission.objects.filter(pk=submission_id, file=file_name, processing__in=waiting).update(
        processing=Submission.Processing.READING, processing_percent=0, updated_at=timezone.now()
    )
    if claimed != 1:
        return None
    submission = Submission.objects.select_related("call").get(pk=submission_id)
    call = submission.call
    try:
        with submission.file.open("rb") as stored:
            data = stored.read()
    except FileNotFoundError:
        return None  # replaced by another upload (its own task reads it) and deleted since
    try:
        info = films.film_read(
            data,
            max_seconds=call.max_duration_seconds,
            max_bytes=call.max_megabytes * 2**20,
            progress=_progress_saver(submission_id),
        )
        blind = films.blind_copy(data)
    except ValidationError as error:
        _film_failed(submission_id, file_name, " ".join(error.messages))
        return Submission.objects.get(pk=submission_id)
    except Exception:
        _film_failed(submission_id, file_name, "The film could not be processed; upload it again or tell the admins.")
        raise
    with transaction.atomic():
        submission = Submission.objects.select_for_update().filter(pk=submission_id, file=file_name).first()
        if submission is None:
            return None  # replaced by another upload while it was read
        listed = [link.job for link in submission.listed_jobs.select_related("job")]
        try:
            matched, unknown = film_marks_match(entrant=submission.entrant, listed=listed, marks=info.marks)
        except ValidationError as error:
            matched, unknown = set(), []
            submission.processing = Submission.Processing.PROBLEM
            submission.processing_problem = " ".join(error.messages)
        else:
            submission.processing, submission.processing_problem = Submission.Processing.READY, ""
        submission.blind_file.save("film.mp4", ContentFile(blind), save=False)
        submission.marks_found, submission.unknown_marks = info.marks, unknown
        submission.duration_seconds, submission.width, submission.height = info.duration, info.width, info.height
        submission.windows_read, submission.processing_percent = info.windows_read, 100
        submission.save()
        SubmissionJob.objects.filter(submission=submission).update(matched=False)
        SubmissionJob.objects.filter(submission=submission, job_id__in=matched).update(matched=True)
    return submission


def _film_failed(submission_id: int, file_name: str, problem: str) -> None:
    Submission.objects.filter(pk=submission_id, file=file_name).update(
        processing=Submission.Processing.FAILED, processing_percent=100, processing_problem=problem
    )


def participation_credit(*, call: Call, actor=None) -> int:
    """Credit every entry in a closed call whose film was read and accepted, once (kind submission); returns
    how many were new."""
    if not call.closed():
        return 0
    created = 0
    for submission in call.submissions.filter(processing=Submission.Processing.READY).select_related("entrant"):
        _, new = ledger_credit(
            person=submission.entrant,
            programme=call.programme,
            kind=LedgerEntry.Kind.SUBMISSION,
            source=submission,
            reason=f"Film “{submission.title[:80]}” entered in {call.title[:80]}",
            actor=actor,
        )
        created += new
    return created
