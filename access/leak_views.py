from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from access.audit import client_ip
from access.leaks import alert_decide
from access.models import LeakAlert, Membership, Role
from core.text import text_problem


def _alerts_for(user):
    """Alerts about people in the programmes ``user`` administers."""
    if user.is_superuser:
        return LeakAlert.objects.all()
    programmes = Membership.objects.filter(user=user, role=Role.ADMIN).values("programme")
    people = Membership.objects.filter(programme__in=programmes).values("user")
    return LeakAlert.objects.filter(user__in=people)


def _admin_only(request):
    if not (request.user.is_superuser or Membership.objects.filter(user=request.user, role=Role.ADMIN).exists()):
        raise Http404


@login_required
@require_GET
def alert_list(request):
    _admin_only(request)
    alerts = _alerts_for(request.user).select_related("user", "token", "decided_by").order_by("state", "-created_at")
    return render(request, "access/leak_alerts.html", {"alerts": alerts[:200]})


@login_required
@require_POST
def alert_decide_view(request, alert_id):
    _admin_only(request)
    alert = get_object_or_404(_alerts_for(request.user), pk=alert_id)
    decision = request.POST.get("decision")
    if decision not in ("confirm", "lift"):
        messages.error(request, "Choose to confirm or to lift the alert.")
        return redirect("leaks:list")
    if problem := text_problem(request.POST.get("note", ""), multiline=True):
        messages.error(request, f"Note: {problem}")
        return redirect("leaks:list")
    try:
        alert_decide(
            alert=alert,
            actor=request.user,
            confirm=decision == "confirm",
            note=request.POST.get("note", ""),
            ip=client_ip(request),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Alert {'confirmed' if decision == 'confirm' else 'lifted'}.")
    return redirect("leaks:list")
