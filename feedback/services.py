"""Writes for feedback: clip ratings, bug reports and red-team findings and their workflow, model versions.

Every state change that earns credit calls feedback.ledger.ledger_credit in the same transaction, so the
credit lands exactly when the change commits, and only once.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from access.audit import audit
from access.models import Membership, Role
from access.policy import is_programme_admin
from feedback.attachments import attachments_check, stored_name
from feedback.ledger import ledger_credit, ledger_entry_for, ledger_restore, ledger_withdraw, own_work_refuse
from feedback.models import (
    SEVERITIES,
    Attachment,
    ClipRating,
    HarmCategory,
    LedgerEntry,
    ModelVersion,
    Report,
    ReportEvent,
    ResponseTargets,
)
from feedback.notify import notify
from generation.models import RenderJob
from generation.registry import MODELS

State = Report.State
MAX_TAGS = 10

TRANSITIONS: dict[str, set[str]] = {
    State.NEW: {State.TRIAGED, State.NEEDS_INFO, State.CONFIRMED, State.DUPLICATE, State.NOT_A_BUG, State.WONT_FIX},
    State.TRIAGED: {State.NEEDS_INFO, State.CONFIRMED, State.DUPLICATE, State.NOT_A_BUG, State.WONT_FIX},
    State.NEEDS_INFO: {State.TRIAGED, State.CONFIRMED, State.DUPLICATE, State.NOT_A_BUG, State.WONT_FIX},
    State.CONFIRMED: {State.FIXED, State.WONT_FIX, State.DUPLICATE, State.TRIAGED},
    State.DUPLICATE: {State.TRIAGED},
    State.NOT_A_BUG: {State.TRIAGED},
    State.WONT_FIX: {State.TRIAGED, State.CONFIRMED},
    State.FIXED: {State.CONFIRMED},
}
# Reaching one of these earns the reporter their credit (once).
CREDITED_STATES = {State.CONFIRMED, State.FIXED}
# Leaving "new" for any of these is the report's triage.
TRIAGED_STATES = set(State.values) - {State.NEW, State.NEEDS_INFO}


# --- Clips ---------------------------------------------------------------------------------------


def job_programme(job: RenderJob):
    return job.grant.programme


def model_version_at(programme, model_key: str, at) -> ModelVersion | None:
    """The version of ``model_key`` in service at ``at``: the latest one shipped by then."""
    return (
        ModelVersion.objects.filter(programme=programme, model_key=model_key, shipped_at__lte=at)
        .order_by("-shipped_at", "-pk")
        .first()
    )


def job_reproduction(job: RenderJob) -> dict:
    """Everything needed to render ``job`` again, and to see where and how long it ran."""
    spec = MODELS.get(job.model_key)
    version = model_version_at(job_programme(job), job.model_key, job.queued_at)
    when = {field: getattr(job, field).isoformat() if getattr(job, field) else None
            for field in ("queued_at", "started_at", "finished_at")}  # fmt: skip
    return {
        "job": str(job.pk),
        "model_key": job.model_key,
        "model": spec.label if spec else job.model_key,
        "pipeline": spec.pipeline_class if spec else "",
        "hub_id": spec.hub_id if spec else "",
        "model_version": version.version if version else "",
        "prompt": job.prompt,
        "negative_prompt": job.negative_prompt,
        "num_frames": job.num_frames,
        "width": job.width,
        "height": job.height,
        "num_steps": job.num_steps,
        "guidance_scale": job.guidance_scale,
        "seed": job.seed,
        "state": job.state,
        "error": job.error,
        "worker": job.worker,
        "attempts": job.attempts,
        **when,
        "gpu_seconds": job.gpu_seconds,
        "encode_seconds": job.encode_seconds,
        "output_bytes": job.output_bytes,
        "clip": job.output.name if job.output else "",
    }


def _own_job(job: RenderJob, person) -> None:
    if job.owner_id != person.pk:
        raise PermissionDenied("You can only do this with your own clips.")


# --- Ratings -------------------------------------------------------------------------------------


def _clean_tags(tags) -> list[str]:
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned = sorted({str(tag).strip().lower()[:30] for tag in tags or [] if str(tag).strip()})
    if len(cleaned) > MAX_TAGS:
        raise ValidationError({"tags": f"Use at most {MAX_TAGS} tags."})
    return cleaned


@transaction.atomic
def rating_save(*, job: RenderJob, author, comment: str = "", tags=(), **scores) -> ClipRating:
    """Rate one of the author's own finished clips; a rating not yet reviewed can be changed."""
    _own_job(job, author)
    errors = {}
    if job.state != RenderJob.State.SUCCEEDED:
        errors["__all__"] = "Only finished clips can be rated."
    for score in ClipRating.SCORES:
        value = scores.get(score)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            errors[score] = "Rate from 1 to 5."
    unknown = set(scores) - set(ClipRating.SCORES)
    if unknown:
        errors["__all__"] = f"Unknown scores: {', '.join(sorted(unknown))}."
    if len(comment) > 5000:
        errors["comment"] = "Comments are at most 5000 characters."
    try:
        tags = _clean_tags(tags)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    rating = ClipRating.objects.select_for_update().filter(job=job, author=author).first()
    if rating is not None and rating.state != ClipRating.State.PENDING:
        raise ValidationError("This rating has been reviewed already and can no longer be changed.")
    programme = job_programme(job)
    values = {**{score: scores[score] for score in ClipRating.SCORES}, "comment": comment.strip(), "tags": tags}
    if rating is None:
        rating = ClipRating.objects.create(
            job=job, author=author, programme=programme, model_key=job.model_key,
            model_version=model_version_at(programme, job.model_key, job.queued_at), **values,
        )  # fmt: skip
    else:
        for name, value in values.items():
            setattr(rating, name, value)
        rating.save(update_fields=[*values, "updated_at"])
    return rating


@transaction.atomic
def rating_decide(*, rating: ClipRating, accept: bool, actor, ip=None) -> ClipRating:
    """Accept (credited once) or decline a rating. A decision can be changed; the credit never repeats."""
    rating = ClipRating.objects.select_for_update().select_related("programme", "job").get(pk=rating.pk)
    if not is_programme_admin(actor, rating.programme):
        raise PermissionDenied("Only the programme's admins review feedback.")
    if accept:
        own_work_refuse(actor=actor, person=rating.author, what="accept your own feedback")
    state = ClipRating.State.ACCEPTED if accept else ClipRating.State.REJECTED
    if rating.state != state:
        rating.state, rating.decided_at = state, timezone.now()
        rating.save(update_fields=["state", "decided_at", "updated_at"])
        audit("feedback.rating_decided", actor=actor, subject=rating.author, programme=rating.programme,
              target=rating, ip=ip, state=state)  # fmt: skip
    if accept:
        ledger_credit(
            person=rating.author, programme=rating.programme, kind=LedgerEntry.Kind.FEEDBACK, source=rating,
            reason=f"Feedback on clip {rating.job.short_id} accepted", actor=actor,
        )  # fmt: skip
    return rating


# --- Reports -------------------------------------------------------------------------------------


def is_red_teamer(person, programme) -> bool:
    return Membership.objects.filter(user=person, programme=programme, role=Role.RED_TEAMER).exists()


def reporter_programme(person):
    """The programme a report filed from no clip belongs to: the person's first as a tester."""
    membership = Membership.objects.filter(user=person).select_related("programme").order_by("created_at").first()
    if membership is None:
        raise PermissionDenied("Only members of a programme can file reports.")
    return membership.programme


def _report_errors(*, kind, title, severity, harm_category, programme, fields, credit_name) -> dict:
    errors = {}
    if not title.strip():
        errors["title"] = "Give the report a title."
    elif len(title) > 200:
        errors["title"] = "Titles are at most 200 characters."
    if severity not in dict(SEVERITIES):
        errors["severity"] = f"Choose a severity: {', '.join(dict(SEVERITIES))}."
    for name, value in fields.items():
        if len(value) > 20000:
            errors[name] = "At most 20000 characters."
    if len(credit_name or "") > 80:
        errors["credit_name"] = "Credit names are at most 80 characters."
    if kind == Report.Kind.FINDING:
        if harm_category is None:
            errors["harm_category"] = "Choose the category of harm."
        elif harm_category.programme_id != programme.pk or not harm_category.active:
            errors["harm_category"] = "That category of harm is not on this programme's list."
        if not fields.get("outcome", "").strip():
            errors["outcome"] = "Describe what the model produced."
    elif harm_category is not None:
        errors["harm_category"] = "Only red-team findings have a category of harm."
    return errors


@transaction.atomic
def report_file(
    *, reporter, kind: str, title: str, severity: str = "medium", job: RenderJob | None = None, programme=None,
    harm_category: HarmCategory | None = None, attachments=(), steps: str = "", expected: str = "", actual: str = "",
    prompt: str = "", outcome: str = "", page_url: str = "", credit_name: str | None = None,
) -> Report:  # fmt: skip
    """File a bug report or a red-team finding, from a clip (its reproduction copied in) or from any page."""
    if kind not in Report.Kind.values:
        raise ValidationError({"kind": "A report is a bug report or a red-team finding."})
    if job is not None:
        _own_job(job, reporter)
        programme = job_programme(job)
    programme = programme or reporter_programme(reporter)
    if not Membership.objects.filter(user=reporter, programme=programme).exists():
        raise PermissionDenied("Only members of the programme can file reports in it.")
    if kind == Report.Kind.FINDING and not is_red_teamer(reporter, programme):
        raise PermissionDenied("Red-team findings are filed by the programme's red teamers.")
    fields = {"steps": steps, "expected": expected, "actual": actual, "prompt": prompt, "outcome": outcome}
    errors = _report_errors(kind=kind, title=title, severity=severity, harm_category=harm_category,
                            programme=programme, fields=fields, credit_name=credit_name)  # fmt: skip
    try:
        checked = attachments_check(list(attachments))
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    reproduction = job_reproduction(job) if job else {}
    report = Report.objects.create(
        kind=kind, programme=programme, reporter=reporter, job=job, title=title.strip(), severity=severity,
        credit_name=(reporter.display_name if credit_name is None else credit_name).strip(),
        harm_category=harm_category, page_url=page_url[:500], reproduction=reproduction,
        model_key=job.model_key if job else "",
        model_version=model_version_at(programme, job.model_key, job.queued_at) if job else None,
        prompt=prompt.strip() or (job.prompt if job and kind == Report.Kind.FINDING else ""),
        **{name: value.strip() for name, value in fields.items() if name != "prompt"},
    )  # fmt: skip
    for upload, content_type in checked:
        item = Attachment(report=report, uploaded_by=reporter, name=upload.name[:200], content_type=content_type,
                          size=upload.size)  # fmt: skip
        item.file.save(stored_name(content_type), upload, save=False)
        item.save()
    ReportEvent.objects.create(report=report, actor=reporter, to_state=State.NEW, comment="Filed")
    notify(reporter, f"{report.get_kind_display()} #{report.pk} filed: {report.title}", report.get_absolute_url())
    return report


def _check_admin(actor, report: Report) -> None:
    if not is_programme_admin(actor, report.programme):
        raise PermissionDenied("Only the programme's admins triage reports.")


def _original(report: Report, duplicate_of: Report | None) -> Report:
    if duplicate_of is None:
        raise ValidationError({"duplicate_of": "Name the original report this one duplicates."})
    original = duplicate_of
    seen = {report.pk}
    while original.duplicate_of_id is not None and original.pk not in seen:  # link to the root, never a chain
        seen.add(original.pk)
        original = original.duplicate_of
    if original.pk in seen:
        raise ValidationError({"duplicate_of": "A report cannot duplicate itself."})
    if original.programme_id != report.programme_id or original.kind != report.kind:
        raise ValidationError({"duplicate_of": f"#{original.pk} is not a {report.get_kind_display().lower()} "
                                               "in this programme."})  # fmt: skip
    if (original.created_at, original.pk) > (report.created_at, report.pk):
        raise ValidationError(
            {"duplicate_of": f"#{original.pk} was filed after this one: mark #{original.pk} as the duplicate, "
                             "so the earliest reporter keeps the credit."}
        )  # fmt: skip
    return original


def _credit(report: Report, *, actor) -> None:
    """Credit the reporter, once: the first time the report reaches a credited state, or again after its
    credit was withdrawn as a duplicate (the withdrawal is undone, whatever path led back here)."""
    kind = LedgerEntry.Kind.FINDING if report.is_finding else LedgerEntry.Kind.BUG
    verb = "accepted" if report.is_finding else "confirmed"
    entry, created = ledger_credit(
        person=report.reporter, programme=report.programme, kind=kind, source=report, severity=report.severity,
        reason=f"{report.get_kind_display()} #{report.pk} {verb} ({report.get_severity_display().lower()})",
        actor=actor,
    )  # fmt: skip
    fields = []
    if not created and report.credit_withdrawal_id is not None:
        ledger_restore(
            entry=entry, withdrawal=report.credit_withdrawal, actor=actor,
            reason=f"#{report.pk} {verb} again after being marked a duplicate: its credit is restored",
        )  # fmt: skip
        report.credit_withdrawal = None
        fields.append("credit_withdrawal")
    if report.credited_at is None:
        report.credited_at = timezone.now()
        fields.append("credited_at")
    if fields:
        report.save(update_fields=[*fields, "updated_at"])


def _withdraw_credit(report: Report, original: Report, *, actor) -> None:
    """A credited report found to duplicate an earlier one gives its credit back (once, until it is confirmed
    again); the original's reporter is credited (now, or when the original is confirmed)."""
    kind = LedgerEntry.Kind.FINDING if report.is_finding else LedgerEntry.Kind.BUG
    entry = ledger_entry_for(kind, report)
    if entry is not None and report.credit_withdrawal_id is None:
        withdrawal = ledger_withdraw(
            entry=entry, actor=actor,
            reason=f"#{report.pk} duplicates the earlier #{original.pk}: the earliest reporter keeps the credit",
        )  # fmt: skip
        if withdrawal is not None:
            report.credit_withdrawal = withdrawal
            report.save(update_fields=["credit_withdrawal", "updated_at"])
    if original.state in CREDITED_STATES:
        _credit(original, actor=actor)


@transaction.atomic
def report_transition(
    *, report: Report, to_state: str, actor, comment: str = "", duplicate_of: Report | None = None,
    fixed_in: ModelVersion | None = None, ip=None,
) -> Report:  # fmt: skip
    """Move a report along its workflow, as one of the programme's admins; the reporter is told."""
    report = Report.objects.select_for_update().select_related("programme", "reporter").get(pk=report.pk)
    _check_admin(actor, report)
    if to_state not in State.values:
        raise ValidationError({"to_state": f"Unknown state {to_state!r}."})
    if to_state not in TRANSITIONS[report.state]:
        allowed = ", ".join(State(state).label for state in sorted(TRANSITIONS[report.state]))
        raise ValidationError(
            {"to_state": f"A report that is {report.get_state_display().lower()} can move to: {allowed}."}
        )
    if to_state in CREDITED_STATES:
        verb = "accept your own red-team finding" if report.is_finding else "confirm your own bug report"
        own_work_refuse(actor=actor, person=report.reporter, what=verb)
    original = _original(report, duplicate_of) if to_state == State.DUPLICATE else None
    if fixed_in is not None and (to_state != State.FIXED or fixed_in.programme_id != report.programme_id):
        raise ValidationError({"fixed_in": "Name a version of this programme's models, and only when marking fixed."})
    now = timezone.now()
    from_state, report.state = report.state, to_state
    report.duplicate_of = original
    report.fixed_in = fixed_in if to_state == State.FIXED else None
    report.first_response_at = report.first_response_at or now
    if to_state in TRIAGED_STATES:
        report.triaged_at = report.triaged_at or now
    report.save(update_fields=["state", "duplicate_of", "fixed_in", "first_response_at", "triaged_at", "updated_at"])
    data = {"duplicate_of": original.pk if original else None, "fixed_in": str(fixed_in) if fixed_in else None}
    ReportEvent.objects.create(
        report=report, actor=actor, from_state=from_state, to_state=to_state, comment=comment.strip(), data=data
    )
    audit("feedback.report_state_changed", actor=actor, subject=report.reporter, programme=report.programme,
          target=report, reason=comment.strip(), ip=ip, from_state=from_state, to_state=to_state, **data)  # fmt: skip
    if to_state in CREDITED_STATES:
        _credit(report, actor=actor)
    if original is not None:
        _withdraw_credit(report, original, actor=actor)
    text = f"Your {report.get_kind_display().lower()} #{report.pk} is now {report.state_label().lower()}"
    if original is not None:
        text += f" (duplicate of #{original.pk})"
    notify(report.reporter, f"{text}.", report.get_absolute_url())
    return report


@transaction.atomic
def report_comment(*, report: Report, author, body: str, ip=None) -> ReportEvent:
    """A comment by the reporter or an admin; an admin's first comment is the report's first response."""
    report = Report.objects.select_for_update().select_related("programme", "reporter").get(pk=report.pk)
    is_admin = is_programme_admin(author, report.programme)
    if author.pk != report.reporter_id and not is_admin:
        raise PermissionDenied("Only the reporter and the programme's admins comment on a report.")
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write a comment."})
    if len(body) > 10000:
        raise ValidationError({"body": "Comments are at most 10000 characters."})
    event = ReportEvent.objects.create(report=report, actor=author, comment=body)
    if is_admin and author.pk != report.reporter_id:
        if report.first_response_at is None:
            report.first_response_at = event.at
            report.save(update_fields=["first_response_at", "updated_at"])
        audit("feedback.report_commented", actor=author, subject=report.reporter, programme=report.programme,
              target=report, ip=ip)  # fmt: skip
        notify(report.reporter, f"New comment on your report #{report.pk}.", report.get_absolute_url())
    return event


@transaction.atomic
def report_assign(*, report: Report, assignee, actor, ip=None) -> Report:
    report = Report.objects.select_for_update().select_related("programme", "reporter").get(pk=report.pk)
    _check_admin(actor, report)
    if assignee is not None and not is_programme_admin(assignee, report.programme):
        raise ValidationError({"assignee": "Reports are assigned to the programme's admins."})
    report.assignee = assignee
    report.save(update_fields=["assignee", "updated_at"])
    ReportEvent.objects.create(report=report, actor=actor, data={"assignee": str(assignee) if assignee else None})
    audit("feedback.report_assigned", actor=actor, subject=report.reporter, programme=report.programme,
          target=report, ip=ip, assignee=assignee.pk if assignee else None)  # fmt: skip
    notify(report.reporter, f"Your report #{report.pk} has been assigned.", report.get_absolute_url())
    return report


# --- Programme settings --------------------------------------------------------------------------


def targets_for(programme) -> ResponseTargets:
    targets = ResponseTargets.objects.filter(programme=programme).first()
    return targets or ResponseTargets(programme=programme)


@transaction.atomic
def targets_publish(*, programme, actor, ip=None, **hours) -> ResponseTargets:
    if not is_programme_admin(actor, programme):
        raise PermissionDenied("Only the programme's admins publish response targets.")
    fields = ("first_response_hours", "triage_hours", "credit_hours", "payout_days")
    errors = {name: "A whole number from 1 to 10000." for name in fields
              if not isinstance(hours.get(name), int) or not 1 <= hours[name] <= 10000}  # fmt: skip
    if errors:
        raise ValidationError(errors)
    targets, _ = ResponseTargets.objects.update_or_create(programme=programme, defaults={k: hours[k] for k in fields})
    audit("feedback.targets_published", actor=actor, programme=programme, target=targets, ip=ip,
          **{k: hours[k] for k in fields})  # fmt: skip
    return targets


@transaction.atomic
def harm_category_add(*, programme, name: str, actor, description: str = "", ip=None) -> HarmCategory:
    if not is_programme_admin(actor, programme):
        raise PermissionDenied("Only the programme's admins change the categories of harm.")
    name = name.strip()
    if not name or len(name) > 80:
        raise ValidationError({"name": "Name the category (at most 80 characters)."})
    if HarmCategory.objects.filter(programme=programme, name__iexact=name).exists():
        raise ValidationError({"name": f"{name} is already on the list."})
    category = HarmCategory.objects.create(programme=programme, name=name, description=description.strip())
    audit("feedback.harm_category_added", actor=actor, programme=programme, target=category, ip=ip)
    return category


@transaction.atomic
def model_version_create(*, programme, model_key: str, version: str, notes: str = "", actor, ip=None) -> ModelVersion:
    if not is_programme_admin(actor, programme):
        raise PermissionDenied("Only the programme's admins record model versions.")
    errors = {}
    if model_key not in MODELS:
        errors["model_key"] = f"Unknown model {model_key!r}."
    version = version.strip()
    if not version or len(version) > 40:
        errors["version"] = "Name the version (at most 40 characters), e.g. 0.9.1."
    elif ModelVersion.objects.filter(programme=programme, model_key=model_key, version=version).exists():
        errors["version"] = f"{model_key} {version} already exists."
    if errors:
        raise ValidationError(errors)
    model_version = ModelVersion.objects.create(programme=programme, model_key=model_key, version=version,
                                                notes=notes.strip())  # fmt: skip
    audit("feedback.model_version_created", actor=actor, programme=programme, target=model_version, ip=ip)
    return model_version


@transaction.atomic
def model_version_ship(*, model_version: ModelVersion, actor, ip=None) -> ModelVersion:
    """Ship a version: from now on new clips are rendered by it, and its release notes credit the reporters
    of the reports it fixed."""
    model_version = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
    if not is_programme_admin(actor, model_version.programme):
        raise PermissionDenied("Only the programme's admins ship model versions.")
    if model_version.shipped_at:
        raise ValidationError(f"{model_version} shipped already.")
    model_version.shipped_at = timezone.now()
    model_version.save(update_fields=["shipped_at"])
    fixed = list(model_version.fixed_reports.select_related("reporter"))
    audit("feedback.model_version_shipped", actor=actor, programme=model_version.programme, target=model_version,
          ip=ip, fixed=[report.pk for report in fixed])  # fmt: skip
    for report in fixed:
        notify(report.reporter, f"{model_version} shipped with the fix for your report #{report.pk}.",
               model_version.get_absolute_url())  # fmt: skip
    return model_version
