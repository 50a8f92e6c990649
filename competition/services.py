"""Every change to the competition: calls and rubrics, entries, reviewer assignment, reviews, results,
appeals. Each service checks its rules and either changes everything it should or nothing; admin
decisions are audited.

Credit: every entry still in a call when submissions close earns the programme's `submission` rate,
credited when the admins run reviewer assignment (the first step after the close; publication credits
again, which changes nothing for entries already credited); winners earn the `prize` rate at publication.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from access.audit import audit
from access.models import TESTER_ROLES, Cohort, Role
from competition import films, selectors
from competition.assignment import Plan, assign
from competition.models import (
    Appeal,
    Call,
    CallNotice,
    Criterion,
    ReviewAssignment,
    ReviewerConflict,
    Score,
    Submission,
    SubmissionJob,
)
from feedback.ledger import ledger_credit
from feedback.models import LedgerEntry
from feedback.notify import notify
from generation.models import CODE_ALPHABET, RenderJob, job_code

CALL_FIELDS = (
    "title", "brief", "rules", "eligible_roles", "submissions_open_at", "submissions_close_at", "judging_ends_at",
    "results_at", "prizes", "winners_count", "reviewers_per_entry", "watch_share", "exclude_same_cohort",
    "appeal_days", "max_duration_seconds", "max_megabytes",
)  # fmt: skip
MAX_PLAYBACK_RATE = 2.0  # the fastest a player may play: watched time cannot grow faster than this
WATCH_SLACK_SECONDS = 3.0


# --- Calls and rubrics ---------------------------------------------------------------------------


def _check_call(fields: dict) -> None:
    errors = {}
    for name in ("title", "brief", "rules"):
        if not str(fields.get(name, "")).strip():
            errors[name] = "This is required: eligible testers read it before they enter."
    moments = [fields.get(name) for name in ("submissions_open_at", "submissions_close_at", "judging_ends_at",
                                             "results_at")]  # fmt: skip
    if not all(isinstance(moment, datetime) for moment in moments):
        errors["submissions_open_at"] = "Give all four dates."
    elif not moments[0] < moments[1] <= moments[2] <= moments[3]:
        errors["submissions_close_at"] = (
            "Dates must run in order: submissions open, then close, then judging ends, then results."
        )
    roles = fields.get("eligible_roles") or []
    if not roles or set(roles) - {str(role) for role in TESTER_ROLES}:
        errors["eligible_roles"] = f"Choose one or more of: {', '.join(str(r) for r in TESTER_ROLES)}."
    if not 1 <= int(fields.get("reviewers_per_entry") or 0) <= 20:
        errors["reviewers_per_entry"] = "Assign between 1 and 20 reviewers to each entry."
    if not 0 < float(fields.get("watch_share") or 0) <= 1:
        errors["watch_share"] = "The share of a film to watch runs from more than 0 up to 1 (100 %)."
    if int(fields.get("winners_count") or 0) < 1:
        errors["winners_count"] = "A call has at least one winner."
    if int(fields.get("max_duration_seconds") or 0) < 1 or int(fields.get("max_megabytes") or 0) < 1:
        errors["max_duration_seconds"] = "Give positive limits for a film's length and size."
    if errors:
        raise ValidationError(errors)


def _check_cohorts(programme, cohorts) -> list[Cohort]:
    cohorts = list(cohorts or [])
    if any(cohort.programme_id != programme.pk for cohort in cohorts):
        raise ValidationError({"eligible_cohorts": "Choose cohorts of this programme."})
    return cohorts


@transaction.atomic
def call_create(*, programme, actor, cohorts=(), ip=None, **fields) -> Call:
    fields.setdefault("eligible_roles", [str(role) for role in TESTER_ROLES])
    fields = {name: value for name, value in fields.items() if name in CALL_FIELDS}
    for name in CALL_FIELDS:  # the model's defaults, for the checks
        fields.setdefault(name, Call._meta.get_field(name).get_default())
    _check_call(fields)
    cohorts = _check_cohorts(programme, cohorts)
    call = Call.objects.create(programme=programme, created_by=actor, **fields)
    call.eligible_cohorts.set(cohorts)
    audit("competition.call_created", actor=actor, programme=programme, target=call, ip=ip, title=call.title)
    return call


def _notice(call: Call, *, text: str, changes: dict, actor) -> CallNotice:
    if not text.strip():
        raise ValidationError(
            {"notice": "Submissions are open: say what changes and why. Every entrant is sent this notice."}
        )
    notice = CallNotice.objects.create(call=call, text=text.strip(), changes=changes, created_by=actor)
    for submission in call.submissions.select_related("entrant"):
        notify(submission.entrant, f"The call “{call.title}” changed: {notice.text}", call.get_absolute_url())
    return notice


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return sorted(str(item) for item in value)
    return value


@transaction.atomic
def call_update(*, call: Call, actor, notice: str = "", cohorts=None, ip=None, **fields) -> Call:
    """Change a call. Once submissions have opened, any change needs a ``notice`` sent to every entrant."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.published:
        raise ValidationError("Results are published: the call can no longer change.")
    fields = {name: value for name, value in fields.items() if name in CALL_FIELDS}
    merged = {name: getattr(call, name) for name in CALL_FIELDS} | fields
    _check_call(merged)
    changes = {
        name: [_jsonable(getattr(call, name)), _jsonable(value)]
        for name, value in fields.items()
        if _jsonable(getattr(call, name)) != _jsonable(value)
    }
    if cohorts is not None:
        cohorts = _check_cohorts(call.programme, cohorts)
        before = {cohort.name for cohort in call.eligible_cohorts.all()}
        if before != {cohort.name for cohort in cohorts}:
            changes["eligible_cohorts"] = [sorted(before), sorted(cohort.name for cohort in cohorts)]
    if not changes:
        return call
    recorded = _notice(call, text=notice, changes=changes, actor=actor) if call.rubric_locked() else None
    for name, value in fields.items():
        setattr(call, name, value)
    call.save()
    if cohorts is not None:
        call.eligible_cohorts.set(cohorts)
    audit("competition.call_changed", actor=actor, programme=call.programme, target=call, ip=ip,
          reason=recorded.text if recorded else "", changes=changes)  # fmt: skip
    return call


@transaction.atomic
def call_announce(*, call: Call, actor, ip=None) -> Call:
    if not call.criteria.exists():
        raise ValidationError("Add the rubric's criteria before announcing the call: testers read it before entering.")
    if call.announced_at is None:
        call.announced_at = timezone.now()
        call.save(update_fields=["announced_at"])
        audit("competition.call_announced", actor=actor, programme=call.programme, target=call, ip=ip)
    return call


def _check_criterion(*, name: str, weight, scale_max, levels) -> tuple[float, int, list[str]]:
    errors = {}
    if not name.strip():
        errors["name"] = "Name the criterion."
    try:
        weight = float(weight)
        if not math.isfinite(weight) or weight <= 0:
            raise ValueError
    except (TypeError, ValueError):
        errors["weight"] = "The weight is a number above 0, e.g. 2 or 0.5."
    try:
        scale_max = int(scale_max)
        if not 2 <= scale_max <= 10:
            raise ValueError
    except (TypeError, ValueError):
        errors["scale_max"] = "The scale runs from 1 to between 2 and 10."
    levels = [str(level).strip() for level in levels or []]
    if not errors and (len(levels) != scale_max or not all(levels)):
        errors["levels"] = f"Describe each of the {scale_max} levels, one per line, from 1 up."
    if errors:
        raise ValidationError(errors)
    return weight, scale_max, levels


@transaction.atomic
def criterion_save(
    *, call: Call, actor, name: str, weight, scale_max, levels, description: str = "", criterion=None,
    notice: str = "", ip=None,
) -> Criterion:  # fmt: skip
    """Add a rubric criterion, or change ``criterion``; after submissions open only with a notice."""
    if call.published:
        raise ValidationError("Results are published: the rubric can no longer change.")
    weight, scale_max, levels = _check_criterion(name=name, weight=weight, scale_max=scale_max, levels=levels)
    if criterion is not None and criterion.call_id != call.pk:
        raise ValidationError("That criterion belongs to another call.")
    if criterion is not None and criterion.scores.filter(value__gt=scale_max).exists():
        raise ValidationError({"scale_max": "Reviewers have already given scores above this scale."})
    if call.criteria.filter(name=name.strip()).exclude(pk=getattr(criterion, "pk", None)).exists():
        raise ValidationError({"name": "The rubric already has a criterion with this name."})
    values = {"name": name.strip(), "description": description.strip(), "weight": weight, "scale_max": scale_max,
              "levels": levels}  # fmt: skip
    if criterion is None:
        values["position"] = call.criteria.count()
        changes = {"criterion_added": values["name"]}
    else:
        changes = {
            f"{criterion.name}.{key}": [getattr(criterion, key), value]
            for key, value in values.items()
            if getattr(criterion, key) != value
        }
        if not changes:
            return criterion
    recorded = _notice(call, text=notice, changes=changes, actor=actor) if call.rubric_locked() else None
    if criterion is None:
        criterion = Criterion.objects.create(call=call, **values)
    else:
        for key, value in values.items():
            setattr(criterion, key, value)
        criterion.save()
    audit("competition.rubric_changed", actor=actor, programme=call.programme, target=call, ip=ip,
          reason=recorded.text if recorded else "", changes=changes)  # fmt: skip
    return criterion


@transaction.atomic
def criterion_remove(*, criterion: Criterion, actor, notice: str = "", ip=None) -> None:
    call = criterion.call
    if criterion.scores.exists():
        raise ValidationError("Reviewers have scored this criterion; it can no longer be removed.")
    changes = {"criterion_removed": criterion.name}
    recorded = _notice(call, text=notice, changes=changes, actor=actor) if call.rubric_locked() else None
    criterion.delete()
    audit("competition.rubric_changed", actor=actor, programme=call.programme, target=call, ip=ip,
          reason=recorded.text if recorded else "", changes=changes)  # fmt: skip


# --- Entries -------------------------------------------------------------------------------------

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


def provenance_match(*, entrant, listed: list[RenderJob], marks: list[int]) -> tuple[set, list[str]]:
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
                {"file": f"The film contains a clip marked {job_code(mark)}, which is not yours. "
                         "Entries may use only their entrant's own clips."}
            )  # fmt: skip
        else:
            unknown.append(job_code(mark))
    return matched, unknown


def submission_save(
    *, call: Call, entrant, title: str, logline: str, credits: str, jobs: str, film: bytes | None = None, at=None
) -> Submission:
    """Enter ``call`` or change the entry, until submissions close. ``film`` (MP4 bytes) is required for a
    new entry and replaces the file of an existing one."""
    at = at or timezone.now()
    decision = selectors.may_enter(entrant, call)
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
    matched, unknown = provenance_match(entrant=entrant, listed=listed, marks=marks)
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


# --- Reviewers -----------------------------------------------------------------------------------


@transaction.atomic
def conflict_declare(*, reviewer, programme, email: str) -> ReviewerConflict:
    """Declare a conflict with whoever has ``email``: the same answer whether or not anyone has it, so a
    declaration reveals nothing about who is a member. Declared conflicts apply from the next assignment
    run; a reviewer who recognises a film already assigned to them recuses themselves from it instead."""
    if not selectors.is_reviewer(reviewer, programme):
        raise PermissionDenied("Only the programme's reviewers declare conflicts.")
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Give an email address, e.g. name@example.org."}) from None
    if email == reviewer.email.lower():
        raise ValidationError({"email": "Your own films are never assigned to you; no need to declare yourself."})
    conflict, _ = ReviewerConflict.objects.get_or_create(programme=programme, reviewer=reviewer, email=email)
    return conflict


def conflict_remove(*, conflict: ReviewerConflict, reviewer) -> None:
    if conflict.reviewer_id != reviewer.pk:
        raise PermissionDenied("That is not your declaration.")
    conflict.delete()


@transaction.atomic
def assignment_run(*, call: Call, actor, ip=None, at=None) -> Plan:
    """Assign k reviewers to each entry (one operation). Rerunning keeps every started review where it
    is, drops unstarted assignments that became excluded, and brings in new reviewers by moving
    unstarted assignments to them."""
    at = at or timezone.now()
    call = Call.objects.select_for_update().get(pk=call.pk)
    if not call.closed(at):
        raise ValidationError("Reviewers are assigned once submissions have closed.")
    if call.published:
        raise ValidationError("Results are published: assignments can no longer change.")
    submissions = list(call.submissions.all())
    reviewers = [r for r in selectors.reviewers_of(call.programme) if selectors.may_use_site(r)]
    if not reviewers:
        raise ValidationError("The programme has no reviewers with access: invite reviewers first.")
    current = {
        (a.submission_id, a.reviewer_id): a for a in call.assignments.exclude(state=ReviewAssignment.State.RECUSED)
    }
    locked = {pair for pair, assignment in current.items() if assignment.started}
    allowed = selectors.exclusion_rule(call, submissions, reviewers)
    plan = assign(
        submissions=[sub.pk for sub in submissions], reviewers=[r.pk for r in reviewers],
        k=call.reviewers_per_entry, allowed=allowed, existing=set(current), locked=locked, seed=call.pk,
    )  # fmt: skip
    ReviewAssignment.objects.filter(pk__in=[current[pair].pk for pair in plan.removed]).delete()
    ReviewAssignment.objects.bulk_create(
        [ReviewAssignment(call=call, submission_id=sub, reviewer_id=rev) for sub, rev in sorted(plan.added)]
    )
    loads = plan.loads([r.pk for r in reviewers])
    audit(
        "competition.reviewers_assigned", actor=actor, programme=call.programme, target=call, ip=ip,
        added=len(plan.added), removed=len(plan.removed), kept_started=len(locked), short=len(plan.short),
        load_min=min(loads.values()), load_max=max(loads.values()),
    )  # fmt: skip
    for reviewer_id in {rev for _, rev in plan.added}:
        reviewer = next(r for r in reviewers if r.pk == reviewer_id)
        notify(reviewer, f"New films to review in “{call.title}”.", reverse("reviews:index"))
    participation_credit(call=call, actor=actor)
    return plan


def participation_credit(*, call: Call, actor=None) -> int:
    """Credit every entry in a closed call once (kind submission); returns how many were new."""
    if not call.closed():
        return 0
    created = 0
    for submission in call.submissions.select_related("entrant"):
        _, new = ledger_credit(
            person=submission.entrant, programme=call.programme, kind=LedgerEntry.Kind.SUBMISSION, source=submission,
            reason=f"Film “{submission.title[:80]}” entered in {call.title[:80]}", actor=actor,
        )  # fmt: skip
        created += new
    return created


def _reviewer_check(assignment: ReviewAssignment, reviewer) -> None:
    if assignment.reviewer_id != reviewer.pk:
        raise PermissionDenied("This review is not assigned to you.")
    if assignment.state == ReviewAssignment.State.RECUSED:
        raise PermissionDenied("You recused yourself from this film.")


def review_open(*, assignment: ReviewAssignment, reviewer, at=None) -> ReviewAssignment:
    _reviewer_check(assignment, reviewer)
    if assignment.opened_at is None:
        assignment.opened_at = at or timezone.now()
        assignment.save(update_fields=["opened_at"])
    return assignment


def intervals_merge(intervals: list, duration: float) -> list[list[float]]:
    """Disjoint, sorted [start, end] ranges covering ``intervals``, each clipped to [0, duration]."""
    clipped = sorted(
        [max(0.0, float(s)), min(duration, float(e))] for s, e in intervals if min(duration, float(e)) > max(0.0, s)
    )
    merged: list[list[float]] = []
    for start, end in clipped:
        if merged and start <= merged[-1][1] + 0.01:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [[round(s, 3), round(e, 3)] for s, e in merged]


def _ranges_check(ranges) -> list[tuple[float, float]]:
    message = "Send watched ranges as a list of [start, end] pairs of seconds."
    if not isinstance(ranges, list) or len(ranges) > 500:
        raise ValidationError(message)
    checked = []
    for pair in ranges:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ValidationError(message)
        try:
            start, end = float(pair[0]), float(pair[1])
        except (TypeError, ValueError):
            raise ValidationError(message) from None
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise ValidationError(message)
        checked.append((start, end))
    return checked


@transaction.atomic
def watch_report(*, assignment: ReviewAssignment, reviewer, ranges, at=None) -> ReviewAssignment:
    """Merge the ranges the player reports into what the reviewer watched. Watched time grows only by what
    playback since the last accepted report allows: at most double speed over the wall time between the two
    reports, plus a little slack. The clock starts at the first report of playback, not when the page opened,
    so a page left open without playing earns nothing; a report of more is refused and changes nothing."""
    at = at or timezone.now()
    assignment = ReviewAssignment.objects.select_for_update().select_related("submission").get(pk=assignment.pk)
    _reviewer_check(assignment, reviewer)
    checked = _ranges_check(ranges)
    if assignment.opened_at is None:
        raise ValidationError("Open the review page before reporting what was watched.")
    if not checked:
        return assignment  # nothing played: no proof of anything, and the clock does not start
    merged = intervals_merge([*assignment.watched, *checked], assignment.submission.duration_seconds)
    total = round(sum(end - start for start, end in merged), 3)
    played_for = (at - assignment.last_watch_at).total_seconds() if assignment.last_watch_at else 0.0
    allowance = max(0.0, played_for) * MAX_PLAYBACK_RATE + WATCH_SLACK_SECONDS
    if total - assignment.watched_seconds > allowance:
        raise ValidationError(
            "The player reported more than could have been watched since its last report: play the film to "
            "count what is watched."
        )
    assignment.watched, assignment.watched_seconds, assignment.last_watch_at = merged, total, at
    assignment.save(update_fields=["watched", "watched_seconds", "last_watch_at"])
    return assignment


@transaction.atomic
def review_save(*, assignment: ReviewAssignment, reviewer, scores: dict, submit: bool, at=None) -> ReviewAssignment:
    """Save scores as a draft, or ``submit`` them (once: every criterion scored with a reason, and the
    film watched to the call's share). ``scores`` maps criterion id to (value or None, reason)."""
    at = at or timezone.now()
    assignment = ReviewAssignment.objects.select_for_update().select_related("call", "submission").get(pk=assignment.pk)
    _reviewer_check(assignment, reviewer)
    call = assignment.call
    if assignment.state == ReviewAssignment.State.SUBMITTED:
        raise ValidationError("This review is submitted; it can no longer change.")
    if call.published or at >= call.judging_ends_at:
        raise ValidationError("Judging has ended for this call.")
    criteria = {criterion.pk: criterion for criterion in call.criteria.all()}
    errors = {}
    clean = {}
    for criterion_id, criterion in criteria.items():
        value, reason = scores.get(criterion_id, (None, ""))
        reason = (reason or "").strip()
        if value is not None and not (isinstance(value, int) and 1 <= value <= criterion.scale_max):
            errors[f"score_{criterion_id}"] = f"Score {criterion.name} from 1 to {criterion.scale_max}."
        elif len(reason) > 600:
            errors[f"reason_{criterion_id}"] = "Keep the reason under 600 characters."
        elif submit and value is None:
            errors[f"score_{criterion_id}"] = f"Score {criterion.name} before submitting."
        elif submit and not reason:
            errors[f"reason_{criterion_id}"] = f"Say in a sentence why {criterion.name} scores {value}."
        clean[criterion_id] = (value, reason)
    if set(scores) - set(criteria):
        errors["__all__"] = "Scores were sent for criteria this call does not have."
    if submit and assignment.watched_share + 1e-9 < call.watch_share:
        errors["__all__"] = (
            f"Watch at least {call.watch_share:.0%} of the film before submitting "
            f"(so far {assignment.watched_share:.0%})."
        )
    if errors:
        raise ValidationError(errors)
    for criterion_id, (value, reason) in clean.items():
        Score.objects.update_or_create(
            assignment=assignment, criterion_id=criterion_id, defaults={"value": value, "reason": reason}
        )
    assignment.state = ReviewAssignment.State.SUBMITTED if submit else ReviewAssignment.State.DRAFT
    assignment.submitted_at = at if submit else None
    assignment.save(update_fields=["state", "submitted_at"])
    return assignment


@transaction.atomic
def review_recuse(*, assignment: ReviewAssignment, reviewer, reason: str) -> ReviewAssignment:
    """Step away from a film (a reviewer who recognises it); the admins reassign it on the next run."""
    _reviewer_check(assignment, reviewer)
    if assignment.state == ReviewAssignment.State.SUBMITTED:
        raise ValidationError("This review is submitted; it is too late to recuse.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why, e.g. “I know who made this film”. Only admins read it."})
    assignment.state, assignment.recuse_reason = ReviewAssignment.State.RECUSED, reason.strip()[:300]
    assignment.save(update_fields=["state", "recuse_reason"])
    assignment.scores.all().delete()
    audit("competition.review_recused", actor=reviewer, programme=assignment.call.programme, target=assignment,
          reason=assignment.recuse_reason)  # fmt: skip
    return assignment


# --- Results and appeals -------------------------------------------------------------------------


@transaction.atomic
def results_publish(*, call: Call, actor, allow_unfinished: bool = False, ip=None) -> list:
    """Publish the ranking as the admins reviewed it: ranks and scores are written onto the entries and
    never recomputed; winners are credited the prize rate, every entry its participation."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    if call.published:
        raise ValidationError("Results are already published.")
    if not call.closed():
        raise ValidationError("Submissions are still open.")
    progress = selectors.review_progress(call)
    if progress["unfinished"] and not allow_unfinished:
        raise ValidationError(
            f"{progress['unfinished']} reviews are unfinished. Wait for them, or publish without them "
            "(they are then left out of the ranking, and the audit trail says so)."
        )
    ranking = selectors.ranking(call)
    if not ranking:
        raise ValidationError("No entry has a submitted review yet: there is nothing to rank.")
    entries = {sub.pk: sub for sub in call.submissions.select_related("entrant")}
    for entry in ranking:
        submission = entries[entry.submission]
        submission.rank, submission.score = entry.rank, round(entry.score, 6)
        submission.winner = entry.rank <= call.winners_count
        submission.save(update_fields=["rank", "score", "winner"])
    call.results_published_at = timezone.now()
    call.save(update_fields=["results_published_at"])
    participation_credit(call=call, actor=actor)
    for entry in ranking[: call.winners_count]:
        submission = entries[entry.submission]
        ledger_credit(
            person=submission.entrant, programme=call.programme, kind=LedgerEntry.Kind.PRIZE, source=submission,
            reason=f"Prize: rank {entry.rank} in {call.title[:80]} for “{submission.title[:80]}”", actor=actor,
        )  # fmt: skip
    for submission in entries.values():
        notify(submission.entrant, f"Results of “{call.title}” are published.", call.get_absolute_url())
    audit(
        "competition.results_published", actor=actor, programme=call.programme, target=call, ip=ip,
        ranked=len(ranking), unranked=len(entries) - len(ranking), unfinished_reviews=progress["unfinished"],
        winners=[entry.submission for entry in ranking[: call.winners_count]],
    )  # fmt: skip
    return ranking


@transaction.atomic
def appeal_file(*, submission: Submission, entrant, text: str, at=None) -> Appeal:
    at = at or timezone.now()
    if submission.entrant_id != entrant.pk:
        raise PermissionDenied("Only the entrant may appeal their result.")
    call = Call.objects.select_related("programme").get(pk=submission.call_id)
    if not call.published:
        raise ValidationError("Appeals open when results are published.")
    if at >= call.appeals_close_at():
        raise ValidationError(f"Appeals closed on {timezone.localtime(call.appeals_close_at()):%Y-%m-%d %H:%M}.")
    if Appeal.objects.filter(submission=submission).exists():
        raise ValidationError("You have already appealed this result.")
    if not text.strip() or len(text) > 5000:
        raise ValidationError({"text": "Say what you appeal and why, in up to 5000 characters."})
    appeal = Appeal.objects.create(submission=submission, text=text.strip())
    for admin in call.programme.memberships.filter(role=Role.ADMIN).select_related("user"):
        notify(admin.user, f"An appeal on “{call.title}” awaits an answer.",
               reverse("competition_manage:call", args=[call.programme.slug, call.pk]))  # fmt: skip
    return appeal


@transaction.atomic
def appeal_answer(*, appeal: Appeal, actor, answer: str, outcome: str, ip=None) -> Appeal:
    if appeal.answered_at:
        raise ValidationError("This appeal has been answered.")
    if outcome not in Appeal.Outcome.values:
        raise ValidationError({"outcome": "Choose upheld or dismissed."})
    if not answer.strip():
        raise ValidationError({"answer": "Answer the appeal in words: the entrant reads it."})
    appeal.answer, appeal.outcome, appeal.answered_by = answer.strip(), outcome, actor
    appeal.answered_at = timezone.now()
    appeal.save()
    call = appeal.submission.call
    audit("competition.appeal_answered", actor=actor, subject=appeal.submission.entrant, programme=call.programme,
          target=appeal, ip=ip, reason=appeal.answer, outcome=outcome)  # fmt: skip
    notify(appeal.submission.entrant, f"Your appeal on “{call.title}” was {appeal.get_outcome_display().lower()}.",
           call.get_absolute_url())  # fmt: skip
    return appeal
