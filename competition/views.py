"""Testers' pages under /competition/: the calls open to them, entering and editing a film until the
close, their results and appeal; the public results page; and the signed film links."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from competition import calls, charts, entries, reviews
from competition.forms import AppealForm, SubmissionForm
from competition.media import BLIND, FilmRefused, film_resolve, film_url
from competition.models import Call, Score, Submission
from competition.results import appeal_file
from competition.scoring import METHOD
from core.form_errors import form_errors_from
from core.ranges import file_response


def _visible_call(user, call_id) -> Call:
    call = get_object_or_404(Call.objects.select_related("programme"), pk=call_id)
    if not calls.may_see_call(user, call):
        raise Http404("No such call.")
    return call


@login_required
@require_GET
def call_list(request):
    return render(
        request,
        "competition/call_list.html",
        {
            "calls": calls.calls_for(request.user),
            "reviews_films": reviews.is_reviewer(request.user),
        },
    )


def entrant_report(submission: Submission) -> dict:
    """What an entrant sees of their result: per criterion, each (anonymised) reviewer's score and reason."""
    assignments = list(submission.assignments.filter(state="submitted").order_by("pk"))
    letters = {assignment.pk: chr(ord("A") + index) for index, assignment in enumerate(assignments)}
    scores = Score.objects.filter(assignment__in=assignments).select_related("criterion")
    rows: dict = {}
    for score in scores.order_by("criterion__position", "criterion_id", "assignment_id"):
        rows.setdefault(score.criterion, []).append((letters[score.assignment_id], score.value, score.reason))
    return {"criteria_rows": list(rows.items()), "reviews": len(assignments)}


@login_required
@require_http_methods(["GET", "POST"])
def call_detail(request, call_id):
    call = _visible_call(request.user, call_id)
    submission = Submission.objects.filter(call=call, entrant=request.user).first()
    initial = {}
    if submission:
        codes = " ".join(link.job.job_code for link in submission.listed_jobs.select_related("job"))
        initial = {
            "title": submission.title,
            "logline": submission.logline,
            "credits": submission.credits,
            "jobs": codes,
        }
    posted = request.method == "POST"  # an empty POST is bound too, so it is answered with what is missing
    form = SubmissionForm(request.POST if posted else None, request.FILES if posted else None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                entries.submission_save(
                    call=call,
                    entrant=request.user,
                    title=form.cleaned_data["title"],
                    logline=form.cleaned_data["logline"],
                    credits=form.cleaned_data["credits"],
                    jobs=form.cleaned_data["jobs"],
                    film=upload.read() if upload else None,
                )
            except PermissionDenied as refused:
                form.add_error(None, str(refused))
            except ValidationError as error:
                form_errors_from(form, error)
            else:
                messages.success(request, "Your entry is saved. You can change it until submissions close.")
                return redirect(call)
        status = 400
    context = {
        "call": call,
        "form": form,
        "submission": submission,
        "may_enter": calls.may_enter(request.user, call),
        "criteria": call.criteria.all(),
        "notices": call.notices.all(),
    }
    if submission:
        context |= entry_status_context(submission)
        context["film_url"] = film_url(submission, viewer=request.user, blind=False)
    if submission and call.published:
        context |= entrant_report(submission)
        context["chart"] = charts.score_distribution(
            [(sub.pk, sub.score) for sub in call.submissions.exclude(score=None)],
            highlight=submission.pk,
            title="Every entry's score; yours in orange",
        )
        context["appeal_form"] = AppealForm()
    return render(request, "competition/call_detail.html", context, status=status)


def entry_status_context(submission: Submission) -> dict:
    listed = list(submission.listed_jobs.select_related("job"))
    return {
        "submission": submission,
        "listed": listed,
        "matched_count": sum(link.matched for link in listed),
        "poll_seconds": settings.BACKLOT_PROGRESS_POLL_SECONDS * 2,
    }


@login_required
@require_GET
def entry_status(request, call_id):
    """The entrant's own entry: how far the reading of its film has come, and what it found (htmx polls it)."""
    call = _visible_call(request.user, call_id)
    submission = get_object_or_404(Submission, call=call, entrant=request.user)
    return render(request, "competition/_entry_status.html", {"call": call} | entry_status_context(submission))


@login_required
@require_POST
def appeal(request, call_id):
    call = _visible_call(request.user, call_id)
    submission = get_object_or_404(Submission, call=call, entrant=request.user)
    form = AppealForm(request.POST)
    if form.is_valid():
        try:
            appeal_file(submission=submission, entrant=request.user, text=form.cleaned_data["text"])
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Your appeal is filed; the admins answer it on the record.")
            return redirect(call)
    else:
        messages.error(request, "Say what you appeal and why.")
    return redirect(call)


@require_GET
def results(request, call_id):
    """Public: the winners and the method, once published."""
    call = get_object_or_404(Call.objects.select_related("programme"), pk=call_id)
    if not call.published:
        raise Http404("No published results.")
    winners = call.submissions.filter(winner=True).select_related("entrant").order_by("rank")
    return render(
        request,
        "competition/results.html",
        {"call": call, "winners": winners, "method": METHOD, "criteria": call.criteria.all()},
    )


@require_GET
def film(request, token):
    try:
        submission, kind = film_resolve(token, request.user)
    except FilmRefused as refused:
        raise PermissionDenied(str(refused)) from None
    stored = submission.blind_file if kind == BLIND else submission.file
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404("This film is no longer available.") from None
    name = "film.mp4" if kind == BLIND else f"entry-{submission.pk}.mp4"
    return file_response(request, handle, size=handle.size, content_type="video/mp4", filename=name)
