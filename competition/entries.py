"""Entries: a film entered in a call, the platform jobs it lists and the marks found in it (film_marks_match:
every mark must name one of the entrant's listed jobs), and the participation credit each entry earns once
submissions close (the programme's `submission` rate, credited when reviewers are assigned and again, to
no effect, at publication)."""

from __future__ import annotations

import re

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
    info = None
    if film is not None:
        info = films.film_read(film, max_seconds=call.max_duration_seconds, max_bytes=call.max_megabytes * 2**20)
        marks = info.marks
        blind = films.blind_copy(film)
    else:
        marks = existing.marks_found
    matched, unknown = film_marks_match(entrant=entrant, listed=listed, marks=marks)
    with transaction.atomic():
        submission = existing or Submission(call=call, entrant=entrant)
        submission.title, submission.logline, submission.credits = title.strip(), logline.strip(), credits.strip()
        submission.marks_found, submission.unknown_marks = marks, unknown
        old_files = []
        if info is not None:
            old_files = [f.name for f in (submission.file, submission.blind_file) if f]
            submission.file.save("film.mp4", ContentFile(film), save=False)
            submission.blind_file.save("film.mp4", ContentFile(blind), save=False)
            submission.file_bytes, submission.duration_seconds = len(film), info.duration
            submission.width, submission.height, submission.windows_read = info.width, info.height, info.windows_read
        submission.save()
        submission.listed_jobs.all().delete()
        SubmissionJob.objects.bulk_create(
            [SubmissionJob(submission=submission, job=job, matched=job.pk in matched) for job in listed]
        )
        storage = submission.file.storage
        transaction.on_commit(lambda: [storage.delete(name) for name in old_files])
    return submission


def participation_credit(*, call: Call, actor=None) -> int:
    """Credit every entry in a closed call once (kind submission); returns how many were new."""
    if not call.closed():
        return 0
    created = 0
    for submission in call.submissions.select_related("entrant"):
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
