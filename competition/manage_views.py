"""Programme admins' pages under /manage/<slug>/competition/ (two-factor required, like all of /manage/):
calls and their rubric, entries with the clips they use, reviewer assignment, reviews with watch time,
the ranking with its spread and reviewer agreement, publication, and appeals."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.audit import client_ip
from access.decorators import programme_admin_required
from competition import calls as call_services
from competition import charts, results, reviews
from competition.forms import AppealAnswerForm, CallForm, CriterionForm, NoticeForm, PublishForm
from competition.media import film_url
from competition.models import Appeal, Call, Criterion, ReviewAssignment, Score
from competition.scoring import METHOD, reviewer_agreement
from core.form_errors import form_errors_from


def _call_url(call) -> str:
    return reverse("competition_manage:call", args=[call.programme.slug, call.pk])


@programme_admin_required
@require_http_methods(["GET", "POST"])
def calls(request, programme):
    form = CallForm(request.POST if request.method == "POST" else None, programme=programme)
    if request.method == "POST" and form.is_valid():
        try:
            call = call_services.call_create(
                programme=programme,
                actor=request.user,
                ip=client_ip(request),
                cohorts=form.cleaned_data["eligible_cohorts"],
                **form.service_fields(),
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, "Call created. Add its rubric, then announce it.")
            return redirect(_call_url(call))
    return render(
        request,
        "competition/manage/calls.html",
        {
            "programme": programme,
            "form": form,
            "calls": Call.objects.filter(programme=programme),
        },
        status=400 if form.errors else 200,
    )


def _call_context(request, programme, call, **forms) -> dict:
    submissions = list(call.submissions.select_related("entrant").prefetch_related("listed_jobs__job"))
    names = {sub.pk: f"#{sub.pk} {sub.title}" for sub in submissions}
    assignments = list(call.assignments.select_related("reviewer", "submission").order_by("submission", "reviewer"))
    scores: dict = {}
    for score in Score.objects.filter(assignment__call=call).select_related("criterion"):
        scores.setdefault(score.assignment_id, []).append(score)
    ranking = results.ranking(call)
    reviewer_names = {a.reviewer_id: a.reviewer.email for a in assignments}
    agreement = [(reviewer_names.get(rev, rev), distance) for rev, distance in reviewer_agreement(ranking).items()]
    loads: dict = {}
    for assignment in assignments:
        if assignment.state != ReviewAssignment.State.RECUSED:
            loads[assignment.reviewer.email] = loads.get(assignment.reviewer.email, 0) + 1
    return {
        "programme": programme,
        "call": call,
        "criteria": call.criteria.all(),
        "notices": call.notices.all(),
        "submissions": [(sub, film_url(sub, viewer=request.user, blind=False)) for sub in submissions],
        "assignments": [(a, scores.get(a.pk, [])) for a in assignments],
        "progress": reviews.review_progress(call),
        "ranking": [(entry, names[entry.submission]) for entry in ranking],
        "agreement": sorted(agreement),
        "loads": sorted(loads.items()),
        "method": METHOD,
        "spread_chart": charts.reviewer_spread(
            [(names[e.submission], e.score, list(e.combined.values())) for e in ranking],
            title="Each entry: reviewers' combined scores (dots) and the entry's score (bar)",
        ),
        "appeals": Appeal.objects.filter(submission__call=call).select_related("submission__entrant", "answered_by"),
        "edit_form": forms.get("edit_form") or CallForm(initial=CallForm.initial_for(call), programme=programme),
        "criterion_form": forms.get("criterion_form") or CriterionForm(),
        "notice_form": NoticeForm(),
        "publish_form": forms.get("publish_form") or PublishForm(),
        "answer_form": AppealAnswerForm(),
        "locked": call.rubric_locked(),
    }


def _call(programme, call_id) -> Call:
    return get_object_or_404(Call, pk=call_id, programme=programme)


@programme_admin_required
@require_GET
def call_detail(request, programme, call_id):
    call = _call(programme, call_id)
    return render(request, "competition/manage/call.html", _call_context(request, programme, call))


@programme_admin_required
@require_POST
def call_edit(request, programme, call_id):
    call = _call(programme, call_id)
    form = CallForm(request.POST, programme=programme)
    if form.is_valid():
        try:
            call_services.call_update(
                call=call,
                actor=request.user,
                ip=client_ip(request),
                notice=form.cleaned_data["notice"],
                cohorts=form.cleaned_data["eligible_cohorts"],
                **form.service_fields(),
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, "Call saved.")
            return redirect(_call_url(call))
    return render(
        request, "competition/manage/call.html", _call_context(request, programme, call, edit_form=form), status=400
    )


@programme_admin_required
@require_POST
def call_announce(request, programme, call_id):
    call = _call(programme, call_id)
    try:
        call_services.call_announce(call=call, actor=request.user, ip=client_ip(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The call is announced: eligible testers can read it now.")
    return redirect(_call_url(call))


@programme_admin_required
@require_POST
def criterion_save(request, programme, call_id, criterion_id=None):
    call = _call(programme, call_id)
    criterion = get_object_or_404(Criterion, pk=criterion_id, call=call) if criterion_id else None
    form = CriterionForm(request.POST)
    if form.is_valid():
        try:
            call_services.criterion_save(
                call=call, actor=request.user, criterion=criterion, ip=client_ip(request), **form.service_fields()
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, "Rubric saved.")
            return redirect(_call_url(call))
    return render(
        request,
        "competition/manage/call.html",
        _call_context(request, programme, call, criterion_form=form),
        status=400,
    )


@programme_admin_required
@require_POST
def criterion_remove(request, programme, call_id, criterion_id):
    call = _call(programme, call_id)
    criterion = get_object_or_404(Criterion, pk=criterion_id, call=call)
    form = NoticeForm(request.POST)
    form.is_valid()
    try:
        call_services.criterion_remove(
            criterion=criterion, actor=request.user, notice=form.cleaned_data.get("notice", ""), ip=client_ip(request)
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Criterion removed.")
    return redirect(_call_url(call))


@programme_admin_required
@require_POST
def assign(request, programme, call_id):
    call = _call(programme, call_id)
    try:
        plan = reviews.assignment_run(call=call, actor=request.user, ip=client_ip(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        note = f" {len(plan.short)} entries could not get {call.reviewers_per_entry} reviewers." if plan.short else ""
        messages.success(request, f"Assignment done: {len(plan.added)} added, {len(plan.removed)} removed.{note}")
    return redirect(_call_url(call))


@programme_admin_required
@require_POST
def publish(request, programme, call_id):
    call = _call(programme, call_id)
    form = PublishForm(request.POST)
    form.is_valid()
    try:
        results.results_publish(
            call=call,
            actor=request.user,
            ip=client_ip(request),
            allow_unfinished=form.cleaned_data.get("allow_unfinished", False),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Results are published; every entrant is told.")
    return redirect(_call_url(call))


@programme_admin_required
@require_POST
def appeal_answer(request, programme, call_id, appeal_id):
    call = _call(programme, call_id)
    appeal = get_object_or_404(Appeal, pk=appeal_id, submission__call=call)
    form = AppealAnswerForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose an outcome and write the answer.")
        results.appeal_answer(
            appeal=appeal,
            actor=request.user,
            answer=form.cleaned_data["answer"],
            outcome=form.cleaned_data["outcome"],
            ip=client_ip(request),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Appeal answered; the entrant is told.")
    return redirect(_call_url(call))
