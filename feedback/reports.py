"""Bug reports and red-team findings: filing, the triage workflow and its transitions, comments,
assignment, the categories of harm, and who may see a report.

Who may see a report is decided here, once: its reporter and the admins of its programme. Red-team findings
follow the same rule, so they never reach anyone else's pages. Every transition that earns credit calls
feedback.ledger.ledger_credit in the same transaction, so the credit lands exactly when the change commits,
and only once.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from access.audit import audit
from access.models import Membership, Role
from access.policy import is_programme_admin
from access.programmes import programmes_administered
from feedback.attachments import attachments_check, stored_name
from feedback.clips import job_programme, job_reproduction, own_job_check
from feedback.ledger import ledger_credit, ledger_entry_for, ledger_restore, ledger_withdraw, own_work_refuse
from feedback.model_versions import model_version_at
from feedback.models import SEVERITIES, Attachment, HarmCategory, LedgerEntry, ModelVersion, Report, ReportEvent
from feedback.notify import notify
from generation.models import RenderJob

State = Report.State

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
    *,
    reporter,
    kind: str,
    title: str,
    severity: str = "medium",
    job: RenderJob | None = None,
    programme=None,
    harm_category: HarmCategory | None = None,
    attachments=(),
    steps: str = "",
    expected: str = "",
    actual: str = "",
    prompt: str = "",
    outcome: str = "",
    page_url: str = "",
    credit_name: str | None = None,
) -> Report:
    """File a bug report or a red-team finding, from a clip (its reproduction copied in) or from any page."""
    if kind not in Report.Kind.values:
        raise ValidationError({"kind": "A report is a bug report or a red-team finding."})
    if job is not None:
        own_job_check(job, reporter)
        programme = job_programme(job)
    programme = programme or reporter_programme(reporter)
    if not Membership.objects.filter(user=reporter, programme=programme).exists():
        raise PermissionDenied("Only members of the programme can file reports in it.")
    if kind == Report.Kind.FINDING and not is_red_teamer(reporter, programme):
        raise PermissionDenied("Red-team findings are filed by the programme's red teamers.")
    fields = {"steps": steps, "expected": expected, "actual": actual, "prompt": prompt, "outcome": outcome}
    errors = _report_errors(
        kind=kind,
        title=title,
        severity=severity,
        harm_category=harm_category,
        programme=programme,
        fields=fields,
        credit_name=credit_name,
    )
    try:
        checked = attachments_check(list(attachments))
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    reproduction = job_reproduction(job) if job else {}
    report = Report.objects.create(
        kind=kind,
        programme=programme,
        reporter=reporter,
        job=job,
        title=title.strip(),
        severity=severity,
        credit_name=(reporter.display_name if credit_name is None else credit_name).strip(),
        harm_category=harm_category,
        page_url=page_url[:500],
        reproduction=reproduction,
        model_key=job.model_key if job else "",
        model_version=model_version_at(programme, job.model_key, job.queued_at) if job else None,
        prompt=prompt.strip() or (job.prompt if job and kind == Report.Kind.FINDING else ""),
        **{name: value.strip() for name, value in fields.items() if name != "prompt"},
    )
    for upload, content_type in checked:
        item = Attachment(
            report=report, uploaded_by=reporter, name=upload.name[:200], content_type=content_type, size=upload.size
        )
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
        raise ValidationError(
            {"duplicate_of": f"#{original.pk} is not a {report.get_kind_display().lower()} in this programme."}
        )
    if (original.created_at, original.pk) > (report.created_at, report.pk):
        raise ValidationError(
            {
                "duplicate_of": f"#{original.pk} was filed after this one: mark #{original.pk} as the duplicate, "
                "so the earliest reporter keeps the credit."
            }
        )
    return original


def _credit(report: Report, *, actor) -> None:
    """Credit the reporter, once: the first time the report reaches a credited state, or again after its
    credit was withdrawn as a duplicate (the withdrawal is undone, whatever path led back here)."""
    kind = LedgerEntry.Kind.FINDING if report.is_finding else LedgerEntry.Kind.BUG
    verb = "accepted" if report.is_finding else "confirmed"
    entry, created = ledger_credit(
        person=report.reporter,
        programme=report.programme,
        kind=kind,
        source=report,
        severity=report.severity,
        reason=f"{report.get_kind_display()} #{report.pk} {verb} ({report.get_severity_display().lower()})",
        actor=actor,
    )
    fields = []
    if not created and report.credit_withdrawal_id is not None:
        ledger_restore(
            entry=entry,
            withdrawal=report.credit_withdrawal,
            actor=actor,
            reason=f"#{report.pk} {verb} again after being marked a duplicate: its credit is restored",
        )
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
            entry=entry,
            actor=actor,
            reason=f"#{report.pk} duplicates the earlier #{original.pk}: the earliest reporter keeps the credit",
        )
        if withdrawal is not None:
            report.credit_withdrawal = withdrawal
            report.save(update_fields=["credit_withdrawal", "updated_at"])
    if original.state in CREDITED_STATES:
        _credit(original, actor=actor)


@transaction.atomic
def report_transition(
    *,
    report: Report,
    to_state: str,
    actor,
    comment: str = "",
    duplicate_of: Report | None = None,
    fixed_in: ModelVersion | None = None,
    ip=None,
) -> Report:
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
    audit(
        "feedback.report_state_changed",
        actor=actor,
        subject=report.reporter,
        programme=report.programme,
        target=report,
        reason=comment.strip(),
        ip=ip,
        from_state=from_state,
        to_state=to_state,
        **data,
    )
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
        audit(
            "feedback.report_commented",
            actor=author,
            subject=report.reporter,
            programme=report.programme,
            target=report,
            ip=ip,
        )
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
    audit(
        "feedback.report_assigned",
        actor=actor,
        subject=report.reporter,
        programme=report.programme,
        target=report,
        ip=ip,
        assignee=assignee.pk if assignee else None,
    )
    notify(report.reporter, f"Your report #{report.pk} has been assigned.", report.get_absolute_url())
    return report


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


def reports_visible_to(user) -> QuerySet[Report]:
    if not user.is_authenticated:
        return Report.objects.none()
    return Report.objects.filter(Q(reporter=user) | Q(programme__in=programmes_administered(user)))


def report_for(user, report_id) -> Report:
    """One report ``user`` may see, or 404 (never 403, which would confirm that it exists)."""
    report = (
        reports_visible_to(user)
        .select_related("programme", "reporter", "assignee", "harm_category", "duplicate_of", "fixed_in", "job")
        .filter(pk=report_id)
        .first()
    )
    if report is None:
        raise Http404("No such report.")
    return report
