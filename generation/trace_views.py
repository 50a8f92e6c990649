from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from access.audit import client_ip
from access.policy import is_programme_admin
from generation.forms import TraceForm
from generation.trace import traces_run


def outcome_visible(user, traced) -> bool:
    """Whether ``user`` may see whose clip it is: a job found in a programme they administer."""
    result = traced.result
    return bool(result and result.found and is_programme_admin(user, result.job.grant.programme))


@login_required
@require_http_methods(["GET", "POST"])
def clip_trace(request):
    """Upload leaked clips and see which job, person and time each came from. Programme admins only
    (like the leak alerts beside it); a job in a programme they do not administer is not shown."""
    if not is_programme_admin(request.user):
        raise Http404
    form = TraceForm(request.POST or None, request.FILES or None)
    rows = []
    if request.method == "POST" and form.is_valid():
        files = [(upload.name, upload.read) for upload in form.cleaned_data["clip"]]
        for traced in traces_run(files, actor=request.user, ip=client_ip(request)):
            rows.append({"traced": traced, "result": traced.result, "visible": outcome_visible(request.user, traced)})
    refused = form.errors or (rows and all(row["result"] is None for row in rows))
    return render(request, "generation/trace.html", {"form": form, "rows": rows}, status=400 if refused else 200)
