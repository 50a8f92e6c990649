"""The programme admin pages under /manage/, and the operator's programme console at /staff/programmes/. Every
programme page is for the programme's admins only (access.decorators.programme_admin_required); the console is
for the operator's staff (access.decorators.operator_staff_required). Every change goes through a service
(access/programmes.py, programme_setup.py, grants.py, invitations.py, suspensions.py ...) with the person as actor
and their address, so it lands in the audit trail. Bad input re-renders the page with the form's errors and
status 400, having changed nothing."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import invitations as invitation_services
from access.audit import client_ip
from access.decorators import operator_staff_required, programme_admin_required
from access.grants import cohort_grant_update, grant_update
from access.invitations import invitations_create, programme_invitations
from access.leaks import alerts_open_count
from access.manage_forms import (
    AuditEventFilter,
    CohortForm,
    CohortGrantForm,
    GrantForm,
    InvitationForm,
    PauseForm,
    ProgrammeModelsForm,
    ProgrammeSetUpForm,
    ReasonForm,
    SuspendForm,
)
from access.models import Grant, Invitation, Membership, Programme, Role, Suspension
from access.policy import is_programme_admin, may_set_up_programmes
from access.programme_setup import programme_set_up
from access.programmes import (
    cohort_create,
    cohort_members,
    cohorts_with_member_counts,
    person_summary,
    programme_models_set,
    programme_people,
    programme_person,
    programmes_administered,
)
from access.suspensions import (
    pause,
    pause_in_force,
    reinstate,
    resume,
    revoke,
    suspend,
    suspensions_active,
    suspensions_of,
)
from core.csv_export import csv_lines
from core.form_errors import form_apply, form_errors_from
from core.ratelimits import RateLimited, rate_consume, rate_refund, retry_after


def _result_key(programme) -> str:
    """Where the invitations page keeps the outcome of the last submission, to show it once after redirecting."""
    return f"manage_invitation_result:{programme.pk}"


def _status(*forms) -> int:
    return 400 if any(form is not None and form.is_bound and form.errors for form in forms) else 200


def _next_or(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _programme_url(programme, name="access_manage:programme", *args) -> str:
    return reverse(name, args=[programme.slug, *args])


# --- Programmes ----------------------------------------------------------------------------------


@login_required
@require_GET
def manage_index(request):
    programmes = list(programmes_administered(request.user))
    if not programmes:
        raise Http404("You administer no programme.")
    context = {"programmes": programmes, "may_set_up": may_set_up_programmes(request.user)}
    return render(request, "access/manage/index.html", context)


def _console_page(request, form=None):
    admins: dict[int, list[str]] = {}
    memberships = Membership.objects.filter(role=Role.ADMIN).order_by("user__email")
    for programme_id, email in memberships.values_list("programme_id", "user__email"):
        admins.setdefault(programme_id, []).append(email)
    managed = set(programmes_administered(request.user).values_list("pk", flat=True))
    rows = [
        {"programme": programme, "admins": admins.get(programme.pk, []), "managed": programme.pk in managed}
        for programme in Programme.objects.annotate(cohort_count=Count("cohorts")).order_by("name")
    ]
    context = {"rows": rows, "form": form or ProgrammeSetUpForm()}
    return render(request, "access/manage/console.html", context, status=_status(form))


@operator_staff_required
@require_http_methods(["GET", "POST"])
def programme_console(request):
    """The operator's programme console: every programme, and setting up a new one (its models, first admin and
    first published rates) in one step."""
    if request.method == "GET":
        return _console_page(request)
    form = ProgrammeSetUpForm(request.POST)
    applied = form_apply(
        form,
        lambda data: programme_set_up(
            name=data["name"],
            slug=data["slug"],
            description=data["description"],
            model_keys=data["model_keys"],
            admin_email=data["admin_email"],
            currency=data["currency"],
            rates=data["rates"],
            actor=request.user,
            ip=client_ip(request),
        ),
    )
    if not applied:
        return _console_page(request, form)
    set_up = applied.result
    admin = (
        f"an invitation to be its admin was sent to {set_up.admin_email}"
        if set_up.admin_invited
        else (f"{set_up.admin_email} is its admin")
    )
    messages.success(request, f"{set_up.programme.name} is set up: {admin}.")
    if is_programme_admin(request.user, set_up.programme):
        return redirect(_programme_url(set_up.programme))
    return redirect("access_staff:programmes")


def _dashboard_context(programme, *, pause_form=None, resume_form=None, models_form=None) -> dict:
    return {
        "programme": programme,
        "open_alerts": alerts_open_count(programme),
        "cohorts": cohorts_with_member_counts(programme),
        "people": programme_people(programme),
        "suspensions": suspensions_active(programme),
        "pause": pause_in_force(programme),
        "pause_form": pause_form or PauseForm(),
        "resume_form": resume_form or ReasonForm(),
        "models_form": models_form or ProgrammeModelsForm(programme=programme),
    }


@programme_admin_required
@require_GET
def manage_programme(request, programme):
    return render(request, "access/manage/programme.html", _dashboard_context(programme))


@programme_admin_required
@require_POST
def programme_models(request, programme):
    form = ProgrammeModelsForm(request.POST, programme=programme)
    if form_apply(
        form,
        lambda data: programme_models_set(
            programme=programme, model_keys=data["model_keys"], actor=request.user, ip=client_ip(request)
        ),
    ):
        messages.success(request, f"{programme.name} now offers {', '.join(programme.model_keys) or 'every model'}.")
        return redirect(_programme_url(programme))
    context = _dashboard_context(programme, models_form=form)
    return render(request, "access/manage/programme.html", context, status=400)


@programme_admin_required
@require_POST
def programme_pause(request, programme):
    form = PauseForm(request.POST)
    if form_apply(
        form,
        lambda data: pause(
            programme=programme,
            reason=data["reason"],
            ends_at=data["ends_at"],
            actor=request.user,
            ip=client_ip(request),
        ),
    ):
        messages.success(request, f"{programme.name} is paused. Its testers have been signed out and told why.")
        return redirect(_programme_url(programme))
    return render(request, "access/manage/programme.html", _dashboard_context(programme, pause_form=form), status=400)


@programme_admin_required
@require_POST
def programme_resume(request, programme):
    form = ReasonForm(request.POST)
    if form_apply(
        form, lambda data: resume(programme=programme, reason=data["reason"], actor=request.user, ip=client_ip(request))
    ):
        messages.success(request, f"{programme.name} is running again.")
        return redirect(_programme_url(programme))
    return render(request, "access/manage/programme.html", _dashboard_context(programme, resume_form=form), status=400)


@programme_admin_required
@require_http_methods(["GET", "POST"])
def suspension_lift(request, programme, suspension_id):
    """A confirmation page for lifting one suspension; the Lift buttons elsewhere post here."""
    suspension = get_object_or_404(
        Suspension.objects.select_related("user", "cohort", "created_by", "lifted_by"),
        pk=suspension_id,
        programme=programme,
    )
    form = ReasonForm(request.POST if request.method == "POST" else None)
    if form_apply(
        form,
        lambda data: reinstate(suspension=suspension, reason=data["reason"], actor=request.user, ip=client_ip(request)),
    ):
        messages.success(request, f"Lifted: {suspension}.")
        return redirect(_next_or(request, _programme_url(programme)))
    context = {"programme": programme, "suspension": suspension, "form": form, "next": request.POST.get("next", "")}
    return render(request, "access/manage/suspension_lift.html", context, status=_status(form))


# --- Invitations ---------------------------------------------------------------------------------


def _invitations_page(request, programme, *, form=None, action_error: str = "", status: int = 200):
    paginator = Paginator(programme_invitations(programme), 50)
    context = {
        "programme": programme,
        "form": form or InvitationForm(programme=programme),
        "result": request.session.pop(_result_key(programme), None) if request.method == "GET" else None,
        "page_obj": paginator.get_page(request.GET.get("page")),
        "action_error": action_error,
    }
    return render(request, "access/manage/invitations.html", context, status=status)


@programme_admin_required
@require_http_methods(["GET", "POST"])
def invitations(request, programme):
    if request.method == "GET":
        return _invitations_page(request, programme)
    form = InvitationForm(request.POST, request.FILES, programme=programme)
    if form.is_valid():
        try:
            rate_consume(scope="invitations", key=request.user.pk, cost=len(form.cleaned_data["emails"]))
        except RateLimited as limited:
            form.add_error(None, str(limited))
            return retry_after(_invitations_page(request, programme, form=form, status=429), limited)
        try:
            made, skipped = invitations_create(
                programme=programme,
                cohort=form.cleaned_data["cohort"],
                role=form.cleaned_data["role"],
                emails=form.cleaned_data["emails"],
                days=form.cleaned_data["days"],
                actor=request.user,
                ip=client_ip(request),
            )
        except ValidationError as error:
            rate_refund(scope="invitations", key=request.user.pk, cost=len(form.cleaned_data["emails"]))
            form_errors_from(form, error)
        else:
            rate_refund(scope="invitations", key=request.user.pk, cost=len(form.cleaned_data["emails"]) - len(made))
            request.session[_result_key(programme)] = {
                "invited": [invitation.email for invitation in made],
                "skipped": sorted(skipped.items()),
            }
            if made:
                messages.success(request, f"Invited {len(made)} {'person' if len(made) == 1 else 'people'}.")
            return redirect(_programme_url(programme, "access_manage:invitations"))
    return _invitations_page(request, programme, form=form, status=400)


def _invitation_action(request, programme, invitation_id, action, done: str):
    invitation = get_object_or_404(Invitation, pk=invitation_id, programme=programme)
    if action is invitation_services.invitation_resend:
        try:
            rate_consume(scope="invitations", key=request.user.pk)
        except RateLimited as limited:
            page = _invitations_page(request, programme, action_error=f"{invitation.email}: {limited}", status=429)
            return retry_after(page, limited)
    try:
        action(invitation=invitation, actor=request.user, ip=client_ip(request))
    except ValidationError as error:
        if action is invitation_services.invitation_resend:
            rate_refund(scope="invitations", key=request.user.pk)
        return _invitations_page(
            request, programme, action_error=f"{invitation.email}: {' '.join(error.messages)}", status=400
        )
    messages.success(request, f"{done} the invitation for {invitation.email}.")
    return redirect(_programme_url(programme, "access_manage:invitations"))


@programme_admin_required
@require_POST
def invitation_resend(request, programme, invitation_id):
    resend = invitation_services.invitation_resend
    return _invitation_action(request, programme, invitation_id, resend, "Sent a new link with")


@programme_admin_required
@require_POST
def invitation_revoke(request, programme, invitation_id):
    return _invitation_action(request, programme, invitation_id, invitation_services.invitation_revoke, "Revoked")


# --- People --------------------------------------------------------------------------------------


def _person_or_404(programme, user_id):
    person = programme_person(programme, user_id)
    if person is None:
        raise Http404("No such person in this programme.")
    return person


def _person_page(request, programme, person, *, grant_form=None, suspend_form=None):
    summary = person_summary(programme, person)
    if grant_form is None and summary.grant is not None:
        grant_form = GrantForm(grant=summary.grant)
    context = {
        "programme": programme,
        "person": summary,
        "grant_form": grant_form,
        "suspend_form": suspend_form or SuspendForm(),
        "suspensions": suspensions_of(programme=programme, user=person),
    }
    return render(request, "access/manage/person.html", context, status=_status(grant_form, suspend_form))


@programme_admin_required
@require_GET
def person(request, programme, user_id):
    return _person_page(request, programme, _person_or_404(programme, user_id))


@programme_admin_required
@require_POST
def person_grant(request, programme, user_id):
    person = _person_or_404(programme, user_id)
    grant = get_object_or_404(Grant, programme=programme, user=person)
    form = GrantForm(request.POST, grant=grant)
    if form.is_valid():
        changes = form.changes()
        if not changes:
            messages.info(request, "Nothing changed: the grant already has these values.")
            return redirect(_programme_url(programme, "access_manage:person", person.pk))
        try:
            grant_update(
                grant=grant, reason=form.cleaned_data["reason"], actor=request.user, ip=client_ip(request), **changes
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, f"Updated {person.email}'s grant ({', '.join(sorted(changes))}).")
            return redirect(_programme_url(programme, "access_manage:person", person.pk))
    return _person_page(request, programme, person, grant_form=form)


def _take_away(request, form, programme, **who) -> Suspension:
    """What SuspendForm chose, by its verb: revoke (with no end time) or suspend."""
    data = form.cleaned_data
    common = {"programme": programme, "reason": data["reason"], "actor": request.user, "ip": client_ip(request)}
    if data["kind"] == Suspension.Kind.REVOCATION:
        if data["ends_at"]:
            raise ValidationError({"ends_at": "A revocation has no end time; suspend instead."})
        return revoke(**common, **who)
    return suspend(**common, **who, ends_at=data["ends_at"])


@programme_admin_required
@require_POST
def person_suspend(request, programme, user_id):
    person = _person_or_404(programme, user_id)
    form = SuspendForm(request.POST, actor=request.user, subject=person)
    if form_apply(form, lambda data: _take_away(request, form, programme, user=person)):
        verb = "Revoked" if form.cleaned_data["kind"] == Suspension.Kind.REVOCATION else "Suspended"
        messages.success(request, f"{verb} {person.email}'s access. They have been signed out and told why.")
        return redirect(_programme_url(programme, "access_manage:person", person.pk))
    return _person_page(request, programme, person, suspend_form=form)


# --- Cohorts -------------------------------------------------------------------------------------


def _cohort_page(request, programme, cohort, *, form=None, grant_form=None):
    context = {
        "programme": programme,
        "cohort": cohort,
        "members": cohort_members(cohort),
        "suspensions": suspensions_of(programme=programme, cohort=cohort),
        "form": form or SuspendForm(),
        "grant_form": grant_form or CohortGrantForm(cohort=cohort),
    }
    return render(request, "access/manage/cohort.html", context, status=_status(form, grant_form))


@programme_admin_required
@require_http_methods(["GET", "POST"])
def cohort_new(request, programme):
    """A new cohort of the programme, with the default grant its members get."""
    form = CohortForm(request.POST if request.method == "POST" else None, programme=programme)
    if request.method == "POST":
        applied = form_apply(
            form,
            lambda data: cohort_create(
                programme=programme,
                name=data["name"],
                slug=data["slug"],
                actor=request.user,
                ip=client_ip(request),
                **form.limits(),
            ),
        )
        if applied:
            messages.success(request, f"Created the cohort {applied.result.name}. Invite people into it.")
            return redirect(_programme_url(programme, "access_manage:cohort", applied.result.slug))
    context = {"programme": programme, "form": form}
    return render(request, "access/manage/cohort_new.html", context, status=_status(form))


@programme_admin_required
@require_POST
def cohort_grant(request, programme, cohort_slug):
    """Change a cohort's default grant (for people who join from now on)."""
    cohort = get_object_or_404(programme.cohorts, slug=cohort_slug)
    form = CohortGrantForm(request.POST, cohort=cohort)
    if form.is_valid():
        changes, to_members = form.changes(), form.cleaned_data["apply_to_members"]
        if not changes and not to_members:
            messages.info(request, "Nothing changed: the cohort's grant already has these values.")
            return redirect(_programme_url(programme, "access_manage:cohort", cohort.slug))
        try:
            members_changed = cohort_grant_update(
                cohort=cohort,
                reason=form.cleaned_data["reason"],
                actor=request.user,
                ip=client_ip(request),
                apply_to_members=to_members,
                **changes,
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            done = f"Updated {cohort.name}'s grant ({', '.join(sorted(changes))})." if changes else ""
            if to_members:
                count = len(members_changed)
                grants = "1 member's grant" if count == 1 else f"{count} members' grants"
                done += f" {grants} brought to it."
            messages.success(request, done.strip())
            return redirect(_programme_url(programme, "access_manage:cohort", cohort.slug))
    return _cohort_page(request, programme, cohort, grant_form=form)


@programme_admin_required
@require_GET
def cohort(request, programme, cohort_slug):
    return _cohort_page(request, programme, get_object_or_404(programme.cohorts, slug=cohort_slug))


@programme_admin_required
@require_POST
def cohort_suspend(request, programme, cohort_slug):
    cohort = get_object_or_404(programme.cohorts, slug=cohort_slug)
    form = SuspendForm(request.POST)
    if applied := form_apply(form, lambda data: _take_away(request, form, programme, cohort=cohort)):
        messages.success(request, f"{applied.result.get_kind_display()} of {cohort.name} is in force.")
        return redirect(_programme_url(programme, "access_manage:cohort", cohort.slug))
    return _cohort_page(request, programme, cohort, form=form)


# --- Audit trail ---------------------------------------------------------------------------------


def _audit_page(request, programme, filterset: AuditEventFilter):
    valid = filterset.is_valid() if filterset.is_bound else True
    events = filterset.qs if valid else filterset.queryset.none()
    query = request.GET.copy()
    query.pop("page", None)  # the pager's links add their own
    context = {
        "programme": programme,
        "filterset": filterset,
        "page_obj": Paginator(events, 50).get_page(request.GET.get("page")),
        "query": query.urlencode(),
    }
    return render(request, "access/manage/audit.html", context, status=200 if valid else 400)


@programme_admin_required
@require_GET
def audit_trail(request, programme):
    return _audit_page(request, programme, AuditEventFilter(request.GET or None, programme=programme))


AUDIT_CSV_COLUMNS = ["at", "action", "actor", "subject", "target", "reason", "ip", "data"]


def _audit_row(event) -> list:
    return [
        event.at.isoformat(),
        event.action,
        event.actor.email if event.actor else "",
        event.subject.email if event.subject else "",
        event.target,
        event.reason,
        event.ip,
        json.dumps(event.data, sort_keys=True) if event.data else "",
    ]


@programme_admin_required
@require_GET
def audit_export(request, programme):
    """The audit trail as CSV, filtered as the page is."""
    filterset = AuditEventFilter(request.GET or None, programme=programme)
    if filterset.is_bound and not filterset.is_valid():
        return _audit_page(request, programme, filterset)
    rows = (_audit_row(event) for event in filterset.qs.iterator(chunk_size=1000))
    response = StreamingHttpResponse(csv_lines(AUDIT_CSV_COLUMNS, rows), content_type="text/csv")
    filename = f"{programme.slug}-audit-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
