from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from access.audit import client_ip
from access.policy import is_programme_admin
from generation.forms import TraceForm
from generation.trace import trace_clip


@login_required
@require_http_methods(["GET", "POST"])
def clip_trace(request):
    """Upload a leaked clip and see which job, person and time it came from. Programme admins only
    (like the leak alerts beside it); a job in a programme they do not administer is not shown."""
    if not is_programme_admin(request.user):
        raise Http404
    form = TraceForm(request.POST or None, request.FILES or None)
    result, visible = None, False
    if request.method == "POST" and form.is_valid():
        upload = request.FILES["clip"]
        try:
            result = trace_clip(
                form.cleaned_data["clip"], actor=request.user, ip=client_ip(request), filename=upload.name
            )
        except ValidationError as error:
            form.add_error("clip", error)
        else:
            visible = result.found and is_programme_admin(request.user, result.job.grant.programme)
    context = {"form": form, "result": result, "visible": visible}
    return render(request, "generation/trace.html", context, status=400 if form.errors else 200)
