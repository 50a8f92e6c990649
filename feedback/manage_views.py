"""Programme admin pages for feedback, under /manage/<slug>/feedback/ (two-factor required there, like all
of /manage/): the triage queue, rating aggregates, payouts, showcase uses, model versions, targets and
categories of harm, ledger corrections. Plus the programme health page, which every member may read."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.audit import audit, client_ip
from access.decorators import programme_admin_required
from access.models import Programme
from core.csv_export import csv_text
from core.form_errors import form_apply
from feedback import charts, ledger, model_versions, payouts, reports, showcase
from feedback import ratings as rating_services
from feedback.forms import (
    AssignForm,
    CorrectionForm,
    HarmCategoryForm,
    ModelVersionForm,
    PayoutForm,
    ReportFilterForm,
    ShowcaseUseForm,
    TargetsForm,
    TransitionForm,
)
from feedback.health import is_member, programme_health, report_clocks, targets_for, targets_publish
from feedback.ledger import ledger_correct, statement_for
from feedback.models import ClipRating, HarmCategory, LedgerEntry, ModelVersion, Payout, Report, ShowcaseOffer
from feedback.views import admins_of, report_context

CLOSED = [Report.State.DUPLICATE, Report.State.NOT_A_BUG, Report.State.WONT_FIX, Report.State.FIXED]


def _url(programme, name, *args) -> str:
    return reverse(f"feedback_manage:{name}", args=[programme.slug, *args])


# --- Triage --------------------------------------------------------------------------------------


@programme_admin_required
@require_GET
def triage_queue(request, programme):
    form = ReportFilterForm(request.GET or None)
    reports = Report.objects.filter(programme=programme).select_related("reporter", "assignee", "harm_category")
    if form.is_bound and not form.is_valid():
        return render(
            request, "feedback/manage/queue.html", {"programme": programme, "form": form, "page_obj": None}, status=400
        )
    filters = form.cleaned_data if form.is_bound else {}
    state = filters.get("state", "")
    if state == "":
        reports = reports.exclude(state__in=CLOSED)
    elif state != "all":
        reports = reports.filter(state=state)
    for name in ("kind", "severity", "model_key"):
        if filters.get(name):
            reports = reports.filter(**{name: filters[name]})
    if filters.get("assignee") == "me":
        reports = reports.filter(assignee=request.user)
    elif filters.get("assignee") == "none":
        reports = reports.filter(assignee__isnull=True)
    if filters.get("q"):
        query = filters["q"]
        reports = reports.filter(Q(title__icontains=query) | Q(steps__icontains=query) | Q(prompt__icontains=query))
    # Oldest first: the queue is worked in the order the clocks started.
    page = Paginator(reports.order_by("created_at"), 50).get_page(request.GET.get("page"))
    targets = targets_for(programme)
    rows = [(report, report_clocks(report, targets)) for report in page]
    return render(
        request, "feedback/manage/queue.html", {"programme": programme, "form": form, "page_obj": page, "rows": rows}
    )


@programme_admin_required
@require_POST
def report_transition(request, programme, report_id):
    report = get_object_or_404(Report, pk=report_id, programme=programme)
    form = TransitionForm(request.POST, report=report, actor=request.user)

    def transition(data):
        duplicate_of = None
        if data["duplicate_of"]:
            duplicate_of = Report.objects.filter(pk=data["duplicate_of"], programme=programme).first()
            if duplicate_of is None:
                raise ValidationError({"duplicate_of": "There is no such report."})
        reports.report_transition(
            report=report,
            to_state=data["to_state"],
            actor=request.user,
            comment=data["comment"],
            duplicate_of=duplicate_of,
            fixed_in=data["fixed_in"],
            ip=client_ip(request),
        )

    if form_apply(form, transition):
        report.refresh_from_db()
        messages.success(request, f"#{report.pk} is now {report.state_label().lower()}; the reporter is told.")
        return redirect(report)
    return render(
        request, "feedback/report_detail.html", report_context(request, report, transition_form=form), status=400
    )


@programme_admin_required
@require_POST
def report_assign(request, programme, report_id):
    report = get_object_or_404(Report, pk=report_id, programme=programme)
    form = AssignForm(request.POST, admins=admins_of(programme))
    if form_apply(
        form,
        lambda data: reports.report_assign(
            report=report, assignee=data["assignee"], actor=request.user, ip=client_ip(request)
        ),
    ):
        return redirect(report)
    return render(request, "feedback/report_detail.html", report_context(request, report, assign_form=form), status=400)


# --- Ratings -------------------------------------------------------------------------------------


@programme_admin_required
@require_GET
def ratings(request, programme):
    score_labels = {score: ClipRating._meta.get_field(score).verbose_name for score in ClipRating.SCORES}
    context = {
        "programme": programme,
        "aggregates": rating_services.rating_aggregates(programme),
        "charts": [
            charts.line_chart(
                rating_services.rating_weekly(programme, score=score),
                title=f"Average {label} per week",
                y_label=label,
                y_max=5,
            )
            for score, label in score_labels.items()
        ],
        "pending": ClipRating.objects.filter(programme=programme, state=ClipRating.State.PENDING)
        .select_related("author", "job", "model_version")
        .order_by("created_at")[:100],
        "own_work_note": ledger.own_work_note(programme=programme, what="rating"),
    }
    return render(request, "feedback/manage/ratings.html", context)


@programme_admin_required
@require_GET
def ratings_export(request, programme):
    fields = ["week", "model_key", "model_version", "count", "accepted", *(f"avg_{s}" for s in ClipRating.SCORES)]
    rows = [
        [
            row["week"].date().isoformat(),
            row["model_key"],
            row["model_version__version"] or "",
            row["count"],
            row["accepted"],
            *(f"{row[f'avg_{score}']:.2f}" for score in ClipRating.SCORES),
        ]
        for row in rating_services.rating_weekly_rows(programme)
    ]
    audit(
        "feedback.ratings_exported",
        actor=request.user,
        programme=programme,
        target="ratings.csv",
        ip=client_ip(request),
    )
    response = HttpResponse(csv_text(fields, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{programme.slug}-ratings.csv"'
    return response


@programme_admin_required
@require_POST
def rating_decide(request, programme, rating_id):
    rating = get_object_or_404(ClipRating, pk=rating_id, programme=programme)
    decision = request.POST.get("decision")
    if decision not in ("accept", "decline"):
        messages.error(request, "Choose accept or decline.")
        return redirect(_url(programme, "ratings"))
    rating_services.rating_decide(rating=rating, accept=decision == "accept", actor=request.user, ip=client_ip(request))
    outcome = "accepted" if decision == "accept" else "declined"
    messages.success(request, f"Rating of clip {rating.job.short_id} {outcome}.")
    return redirect(_url(programme, "ratings"))


# --- Payouts -------------------------------------------------------------------------------------


@programme_admin_required
@require_http_methods(["GET", "POST"])
def payout_list(request, programme):
    form = PayoutForm(request.POST or None)
    if request.method == "POST" and (
        applied := form_apply(
            form,
            lambda data: payouts.payout_run(
                programme=programme,
                actor=request.user,
                ip=client_ip(request),
                **{**data, "currency": data["currency"].upper()},
            ),
        )
    ):
        messages.success(request, f"Paid {applied.result.lines.count()} testers. Download the CSV below.")
        return redirect(_url(programme, "payouts"))
    due, people = {}, {}
    unpaid = LedgerEntry.objects.filter(programme=programme, paid__isnull=True).exclude(kind="payout")
    for entry in unpaid.select_related("person"):
        if entry.currency:
            due[entry.currency] = due.get(entry.currency, 0) + entry.amount
            owed = people.setdefault(entry.person, {})
            owed[entry.currency] = owed.get(entry.currency, 0) + entry.amount
    context = {
        "programme": programme,
        "form": form,
        "due": due,
        "people": sorted(people.items(), key=lambda item: item[0].email),
        "payouts": Payout.objects.filter(programme=programme).prefetch_related("lines"),
    }
    return render(request, "feedback/manage/payouts.html", context, status=400 if form.errors else 200)


@programme_admin_required
@require_GET
def payout_export(request, programme, payout_id):
    payout = get_object_or_404(Payout, pk=payout_id, programme=programme)
    audit("feedback.payout_exported", actor=request.user, programme=programme, target=payout, ip=client_ip(request))
    response = HttpResponse(payouts.payout_csv(payout), content_type="text/csv; charset=utf-8")
    name = f"{programme.slug}-payout-{payout.period_start}-{payout.period_end}-{payout.currency}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@programme_admin_required
@require_http_methods(["GET", "POST"])
def person_ledger(request, programme, user_id):
    person = get_object_or_404(get_user_model(), pk=user_id, memberships__programme=programme)
    form = CorrectionForm(request.POST or None)

    def correct(data):
        entry = LedgerEntry.objects.filter(pk=data["entry"], person=person, programme=programme).first()
        if entry is None:
            raise ValidationError({"entry": "No such entry in this person's ledger."})
        fields = {name: data[name] for name in ("points", "amount", "reason")}
        return ledger_correct(entry=entry, actor=request.user, ip=client_ip(request), **fields)

    if request.method == "POST" and form_apply(form, correct):
        messages.success(request, "Correction added to the ledger.")
        return redirect(_url(programme, "person_ledger", person.pk))
    context = {"programme": programme, "person": person, "form": form, "statement": statement_for(person, programme)}
    return render(request, "feedback/manage/person_ledger.html", context, status=400 if form.errors else 200)


# --- Showcase ------------------------------------------------------------------------------------


def _showcase_page(request, programme, *, form=None, failed_offer=None, status=200):
    offers = ShowcaseOffer.objects.filter(programme=programme).select_related("job", "artist").prefetch_related("uses")
    context = {
        "programme": programme,
        "offers": offers,
        "form": form or ShowcaseUseForm(),
        "own_work_note": ledger.own_work_note(programme=programme, what="clip"),
    }
    if failed_offer is not None:
        context["failed_offer"] = failed_offer.pk
    return render(request, "feedback/manage/showcase.html", context, status=status)


@programme_admin_required
@require_GET
def showcase_list(request, programme):
    return _showcase_page(request, programme)


@programme_admin_required
@require_POST
def showcase_use(request, programme, offer_id):
    offer = get_object_or_404(ShowcaseOffer, pk=offer_id, programme=programme)
    form = ShowcaseUseForm(request.POST)
    if form_apply(
        form, lambda data: showcase.showcase_use_record(offer=offer, actor=request.user, ip=client_ip(request), **data)
    ):
        messages.success(request, f"Use recorded; {offer.credit_name} is credited and paid.")
        return redirect(_url(programme, "showcase"))
    return _showcase_page(request, programme, form=form, failed_offer=offer, status=400)


# --- Versions, targets, categories ----------------------------------------------------------------


@programme_admin_required
@require_http_methods(["GET", "POST"])
def versions(request, programme):
    form = ModelVersionForm(request.POST or None)
    if request.method == "POST":
        if "ship" in request.POST:
            version = get_object_or_404(ModelVersion, pk=request.POST.get("ship"), programme=programme)
            try:
                model_versions.model_version_ship(model_version=version, actor=request.user, ip=client_ip(request))
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, f"{version} shipped; its release notes credit the reporters it fixed.")
            return redirect(_url(programme, "versions"))
        if form_apply(
            form,
            lambda data: model_versions.model_version_create(
                programme=programme, actor=request.user, ip=client_ip(request), **data
            ),
        ):
            return redirect(_url(programme, "versions"))
    context = {
        "programme": programme,
        "form": form,
        "versions": ModelVersion.objects.filter(programme=programme).prefetch_related("fixed_reports"),
    }
    return render(request, "feedback/manage/versions.html", context, status=400 if form.errors else 200)


@programme_admin_required
@require_http_methods(["GET", "POST"])
def programme_settings(request, programme):
    targets = targets_for(programme)
    initial = {name: getattr(targets, name) for name in TargetsForm.base_fields}
    targets_form = TargetsForm(request.POST if "targets" in request.POST else None, initial=initial)
    harm_form = HarmCategoryForm(request.POST if "harm" in request.POST else None)

    def saving(action):
        return lambda data: action(programme=programme, actor=request.user, ip=client_ip(request), **data)

    for form, action in ((targets_form, targets_publish), (harm_form, reports.harm_category_add)):
        if form.is_bound and form_apply(form, saving(action)):
            messages.success(request, "Saved.")
            return redirect(_url(programme, "settings"))
    context = {
        "programme": programme,
        "targets_form": targets_form,
        "harm_form": harm_form,
        "categories": HarmCategory.objects.filter(programme=programme),
    }
    status = 400 if targets_form.errors or harm_form.errors else 200
    return render(request, "feedback/manage/settings.html", context, status=status)


# --- Programme health (every member) --------------------------------------------------------------


@login_required
@require_GET
def health(request, slug):
    programme = get_object_or_404(Programme, slug=slug)
    if not is_member(request.user, programme):
        raise Http404("No such programme.")
    health = programme_health(programme)
    context = {
        "programme": programme,
        "health": health,
        "median_chart": charts.line_chart(
            health["weekly_medians"], title="Median hours, by week reports were filed", y_label="hours"
        ),
        "releases": ModelVersion.objects.filter(programme=programme, shipped_at__isnull=False).order_by("-shipped_at"),
        "acted_chart": charts.line_chart(
            health["weekly_acted"], title="Share of reports acted on, by week filed", y_label="%", y_max=100
        ),
    }
    return render(request, "feedback/health.html", context)
