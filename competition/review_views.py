"""Reviewers' pages under /reviews/: the films assigned to them, blind (film, title, logline and the
call's brief and rubric: never the entrant's name, account, credits or the file's metadata), the
scoring form, the player's watch reports, recusal, and declared conflicts of interest.

Everything a reviewer is shown of an entry goes through ``blind_entry``, so the one place to check
what a reviewer can learn is there."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.models import Membership
from competition import reviews
from competition.forms import ConflictForm, RecuseForm, ReviewForm
from competition.media import film_url
from competition.models import ReviewAssignment, ReviewerConflict
from core.form_errors import form_errors_from


def blind_entry(assignment: ReviewAssignment, viewer) -> dict:
    """All a reviewer may know of the entry they judge."""
    submission = assignment.submission
    return {
        "title": submission.title,
        "logline": submission.logline,
        "duration_seconds": submission.duration_seconds,
        "film_url": film_url(submission, viewer=viewer, blind=True),
    }


def _reviewer_only(view):
    def wrapper(request, *args, **kwargs):
        if not reviews.is_reviewer(request.user):
            raise Http404("You review no films.")
        return view(request, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = view.__name__, view.__doc__
    return login_required(wrapper)


def _assignment(request, assignment_id) -> ReviewAssignment:
    assignment = get_object_or_404(
        ReviewAssignment.objects.select_related("call__programme", "submission"),
        pk=assignment_id,
        reviewer=request.user,
    )
    if assignment.state == ReviewAssignment.State.RECUSED:
        raise Http404("You recused yourself from this film.")
    return assignment


@_reviewer_only
@require_GET
def index(request):
    assignments = reviews.assignments_for(request.user).order_by("call", "pk")
    conflicts = ReviewerConflict.objects.filter(reviewer=request.user).select_related("programme")
    return render(
        request,
        "competition/reviews/index.html",
        {
            "assignments": assignments,
            "conflicts": conflicts,
            "conflict_form": ConflictForm(),
        },
    )


def _scores_initial(assignment) -> dict:
    initial = {}
    for score in assignment.scores.all():
        initial[f"score_{score.criterion_id}"] = score.value
        initial[f"reason_{score.criterion_id}"] = score.reason
    return initial


@_reviewer_only
@require_http_methods(["GET", "POST"])
def review(request, assignment_id):
    assignment = _assignment(request, assignment_id)
    reviews.review_open(assignment=assignment, reviewer=request.user)
    criteria = assignment.call.criteria.all()
    form = ReviewForm(request.POST or None, criteria=criteria, initial=_scores_initial(assignment))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            submit = "submit" in request.POST
            try:
                reviews.review_save(assignment=assignment, reviewer=request.user, scores=form.scores(), submit=submit)
            except ValidationError as error:
                form_errors_from(form, error)
            else:
                messages.success(request, "Your review is submitted. Thank you." if submit else "Draft saved.")
                return redirect(assignment)
        status = 400
    assignment.refresh_from_db()
    return render(
        request,
        "competition/reviews/review.html",
        {
            "assignment": assignment,
            "entry": blind_entry(assignment, request.user),
            "call": assignment.call,
            "form": form,
            "recuse_form": RecuseForm(),
            "locked": assignment.state == ReviewAssignment.State.SUBMITTED,
            "watch_percent": round(assignment.call.watch_share * 100),
        },
        status=status,
    )


@_reviewer_only
@require_POST
def watched(request, assignment_id):
    """The player's report: {"ranges": [[start, end], ...]} in seconds; answers the merged total."""
    assignment = _assignment(request, assignment_id)
    try:
        ranges = json.loads(request.body or b"{}").get("ranges")
    except (ValueError, AttributeError):
        return JsonResponse({"error": 'Send JSON: {"ranges": [[start, end], ...]}.'}, status=400)
    try:
        assignment = reviews.watch_report(assignment=assignment, reviewer=request.user, ranges=ranges)
    except ValidationError as error:
        return JsonResponse({"error": " ".join(error.messages)}, status=400)
    return JsonResponse(
        {
            "watched_seconds": assignment.watched_seconds,
            "share": round(assignment.watched_share, 4),
            "required": assignment.call.watch_share,
        }
    )


@_reviewer_only
@require_POST
def recuse(request, assignment_id):
    assignment = _assignment(request, assignment_id)
    form = RecuseForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Say why you step away from this film.")
        reviews.review_recuse(assignment=assignment, reviewer=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(assignment)
    messages.success(request, "You stepped away from this film; the admins will assign it to someone else.")
    return redirect("reviews:index")


@_reviewer_only
@require_POST
def conflict_add(request):
    """Declared in every programme the person reviews for; the answer never says whether the address
    belongs to anyone (conflicts are kept as addresses and matched at assignment)."""
    form = ConflictForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the person's email address.")
        return redirect("reviews:index")
    email = form.cleaned_data["email"]
    try:
        for membership in Membership.objects.filter(user=request.user, role="reviewer").select_related("programme"):
            reviews.conflict_declare(reviewer=request.user, programme=membership.programme, email=email)
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(
            request, f"Conflict declared: films by whoever has the address {email.lower()} will not be assigned to you."
        )
    return redirect("reviews:index")


@_reviewer_only
@require_POST
def conflict_remove(request, conflict_id):
    conflict = get_object_or_404(ReviewerConflict, pk=conflict_id, reviewer=request.user)
    reviews.conflict_remove(conflict=conflict, reviewer=request.user)
    messages.success(request, "Declaration removed.")
    return redirect("reviews:index")
