"""The person's own account: an overview page and the export of their data."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access.audit import client_ip
from access.export import export_create
from access.models import Membership


@login_required
@require_GET
def account_index(request):
    memberships = Membership.objects.filter(user=request.user).select_related("programme", "cohort")
    return render(request, "access/account.html", {"memberships": memberships})


@login_required
@require_GET
@never_cache
def export_download(request):
    """Open to people whose access is suspended too (access.middleware.OPEN_PREFIXES): their data is theirs."""
    content = export_create(user=request.user, ip=client_ip(request))
    filename = f"backlot-export-{timezone.localdate():%Y-%m-%d}.zip"
    return HttpResponse(
        content,
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
