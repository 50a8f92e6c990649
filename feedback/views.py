"""Tester pages: rate a clip, file a bug or a finding (from a clip or any page), your reports, your
statement, notifications; and the report page, which the programme's admins also triage from."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.audit import client_ip
from access.models import Membership, Programme, Role
from access.policy import is_programme_admin
from core.form_errors import form_errors_from
from core.ranges import file_response
from feedback import clips, health, ledger, ratings, reports, showcase
from feedback.forms import AssignForm, BugForm, CommentForm, FindingForm, RatingForm, TransitionForm
from feedback.ledger import is_own_work, statement_for
from feedback.models import Attachment, ClipRating, ModelVersion, Notification, Report
from feedback.notify import notifications_unread
from generation import gallery
from generation.models import RenderJob
from generation.registry import MODELS


def _status(form) -> int:
    return 400 if form.is_bound and form.errors else 200


def _safe_from(request) -> str:
    target = request.GET.get("from") or request.POST.get("page_url") or request.headers.get("referer", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target[:500]
    return ""


# --- From a clip ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def clip_rate(request, job_id):
    job = gallery.job_for(request.user, job_id)
    rating = ClipRating.objects.filter(job=job, author=request.user).first()
    initial = {score: getattr(rating, score) for score in ClipRating.SCORES} if rating else {}
    if rating:
        initial |= {"comment": rating.comment, "tags": ", ".join(rating.tags)}
    form = RatingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            ratings.rating_save(job=job, author=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, "Thank you: your rating is saved.")
            return redirect(job)
    return render(request, "feedback/rate.html", {"form": form, "job": job, "rating": rating}, status=_status(form))


def _file_report(request, *, kind: str, job: RenderJob | None, programme: Programme):
    form_class = FindingForm if kind == Report.Kind.FINDING else BugForm
    extra = {"programme": programme} if kind == Report.Kind.FINDING else {}
    initial = {"credit_name": request.user.display_name}
    if job is not None and kind == Report.Kind.FINDING:
        initial["prompt"] = job.prompt
    data = (request.POST, request.FILES) if request.method == "POST" else ()
    form = form_class(*data, initial=initial, **extra)
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        try:
            report = reports.report_file(
                reporter=request.user, kind=kind, job=job, programme=programme, page_url=_safe_from(request), **fields
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, f"{report.get_kind_display()} #{report.pk} filed; you will hear of each change.")
            return redirect(report)
    context = {
        "form": form,
        "kind": kind,
        "job": job,
        "programme": programme,
        "page_url": _safe_from(request),
        "reproduction": clips.job_reproduction(job) if job else None,
    }
    return render(request, "feedback/report_form.html", context, status=_status(form))


def _check_may_file(user, kind: str, programme) -> None:
    if kind == Report.Kind.FINDING and not reports.is_red_teamer(user, programme):
        raise PermissionDenied("Red-team findings are filed by the programme's red teamers.")


@login_required
@require_http_methods(["GET", "POST"])
def clip_report(request, job_id, kind):
    job = gallery.job_for(request.user, job_id)
    programme = clips.job_programme(job)
    _check_may_file(request.user, kind, programme)
    return _file_report(request, kind=kind, job=job, programme=programme)


@login_required
@require_http_methods(["GET", "POST"])
def report_new(request, kind):
    """File a report from any page (the page it came from is kept with it)."""
    memberships = Membership.objects.filter(user=request.user).select_related("programme").order_by("created_at")
    if kind == Report.Kind.FINDING:
        memberships = memberships.filter(role=Role.RED_TEAMER)
    membership = memberships.first()
    if membership is None:
        raise PermissionDenied(
            "Red-team findings are filed by red teamers."
            if kind == Report.Kind.FINDING
            else "Only members of a programme can file reports."
        )
    return _file_report(request, kind=kind, job=None, programme=membership.programme)


@login_required
@require_POST
def clip_showcase(request, job_id):
    job = gallery.job_for(request.user, job_id)
    try:
        if request.POST.get("action") == "withdraw":
            offer = getattr(job, "showcase_offer", None)
            if offer is None:
                raise ValidationError("This clip is not offered.")
            showcase.showcase_revoke(offer=offer, artist=request.user)
            messages.success(request, "Withdrawn: the programme will not use this clip again.")
        else:
            showcase.showcase_offer(job=job, artist=request.user, credit_name=request.POST.get("credit_name", ""))
            messages.success(request, "Offered for showcase use. Each use is credited to you and paid.")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(job)


# --- Reports -------------------------------------------------------------------------------------


@login_required
@require_GET
def my_reports(request):
    reports = Report.objects.filter(reporter=request.user).select_related("programme").order_by("-created_at")
    ratings = ClipRating.objects.filter(author=request.user).select_related("job", "model_version")[:50]
    return render(request, "feedback/my_reports.html", {"reports": reports, "ratings": ratings})


def admins_of(programme):
    return get_user_model().objects.filter(memberships__programme=programme, memberships__role=Role.ADMIN).distinct()


def report_context(request, report, **forms) -> dict:
    is_admin = is_programme_admin(request.user, report.programme)
    admins = admins_of(report.programme)
    context = {
        "report": report,
        "is_admin": is_admin,
        "events": report.events.select_related("actor"),
        "attachments": report.attachments.all(),
        "clocks": health.report_clocks(report),
        "comment_form": forms.get("comment_form") or CommentForm(),
        "duplicates": report.duplicates.all() if is_admin else [],
    }
    if is_admin:
        context["transition_form"] = forms.get("transition_form") or TransitionForm(report=report, actor=request.user)
        if is_own_work(request.user, report.reporter):
            context["own_work_note"] = ledger.own_work_note(
                programme=report.programme, what="red-team finding" if report.is_finding else "bug report"
            )
        context["assign_form"] = forms.get("assign_form") or AssignForm(
            admins=admins, initial={"assignee": report.assignee}
        )
    return context


@login_required
@require_GET
def report_detail(request, report_id):
    report = reports.report_for(request.user, report_id)
    return render(request, "feedback/report_detail.html", report_context(request, report))


@login_required
@require_POST
def report_comment(request, report_id):
    report = reports.report_for(request.user, report_id)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            reports.report_comment(
                report=report, author=request.user, body=form.cleaned_data["body"], ip=client_ip(request)
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            return redirect(report)
    return render(
        request, "feedback/report_detail.html", report_context(request, report, comment_form=form), status=400
    )


def _private_file(request, field, *, content_type: str, filename: str):
    if not field:
        raise Http404("No file.")
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise Http404("This file is no longer available.") from None
    response = file_response(request, handle, size=handle.size, content_type=content_type, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; media-src 'self'; img-src 'self'"
    return response


@login_required
@require_GET
def report_clip(request, report_id):
    """The clip a report was filed from, for its reporter and the admins who triage it."""
    report = reports.report_for(request.user, report_id)
    if report.job is None or report.job.state != RenderJob.State.SUCCEEDED:
        raise Http404("This report has no clip.")
    return _private_file(request, report.job.output, content_type="video/mp4", filename=f"report-{report.pk}.mp4")


@login_required
@require_GET
def report_input_image(request, report_id, which):
    """An image the report's clip was made from (its start image or last frame), for the same people."""
    report = reports.report_for(request.user, report_id)
    image = getattr(report.job, which, None) if which in clips.INPUT_IMAGES else None
    if image is None:
        raise Http404("This report's clip has no such image.")
    content_type = clips.IMAGE_CONTENT_TYPES.get(image.format, "application/octet-stream")
    return _private_file(request, image.file, content_type=content_type, filename=f"report-{report.pk}-{which}")


@login_required
@require_GET
def report_source_clip(request, report_id):
    """The clip the report's clip was extended, restyled or upscaled from, for the same people."""
    report = reports.report_for(request.user, report_id)
    source = report.job.source if report.job is not None else None
    if source is None or source.state != RenderJob.State.SUCCEEDED:
        raise Http404("This report's clip has no source clip.")
    return _private_file(request, source.output, content_type="video/mp4", filename=f"report-{report.pk}-source.mp4")


@login_required
@require_GET
def attachment(request, report_id, attachment_id):
    report = reports.report_for(request.user, report_id)
    item = get_object_or_404(Attachment, pk=attachment_id, report=report)
    return _private_file(request, item.file, content_type=item.content_type, filename=item.name)


# --- Ledger, notifications, releases ----------------------------------------------------------------


@login_required
@require_GET
def statement(request):
    programmes = Programme.objects.filter(memberships__user=request.user).distinct()
    return render(
        request, "feedback/statement.html", {"statement": statement_for(request.user), "programmes": programmes}
    )


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request):
    if request.method == "POST":
        notifications_unread(request.user).update(read_at=timezone.now())
        return redirect("feedback:notifications")
    items = Notification.objects.filter(user=request.user)[:100]
    return render(request, "feedback/notifications.html", {"notifications": items})


@login_required
@require_GET
def release_notes(request, version_id):
    version = get_object_or_404(ModelVersion.objects.select_related("programme"), pk=version_id)
    if not health.is_member(request.user, version.programme) or (
        not version.shipped_at and not is_programme_admin(request.user, version.programme)
    ):
        raise Http404("No such release.")
    fixed = version.fixed_reports.select_related("reporter").order_by("pk")
    context = {
        "version": version,
        "model": MODELS.get(version.model_key),
        "bugs": [report for report in fixed if not report.is_finding],
        "findings_count": sum(1 for report in fixed if report.is_finding),  # confidential: counted, never shown
    }
    return render(request, "feedback/release_notes.html", context)
