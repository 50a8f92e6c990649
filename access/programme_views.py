"""Pages about a programme that every member may read."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from access.models import ContributionRate, Membership, Programme
from access.rates import rates_current


@login_required
@require_GET
def rates(request, programme):
    programme = get_object_or_404(Programme, slug=programme)
    if not (request.user.is_superuser or Membership.objects.filter(user=request.user, programme=programme).exists()):
        raise Http404
    context = {
        "programme": programme,
        "current": sorted(rates_current(programme), key=lambda rate: (rate.kind, rate.severity)),
        "history": ContributionRate.objects.filter(programme=programme).order_by("-effective_from")[:200],
    }
    return render(request, "access/rates.html", context)
