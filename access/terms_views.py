from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from access.audit import client_ip
from access.models import Membership, Programme, TermsResponse
from access.terms import terms_current, terms_diff, terms_last_accepted, terms_respond


@login_required
@require_http_methods(["GET", "POST"])
def terms_answer(request, programme):
    programme = get_object_or_404(Programme, slug=programme)
    if not Membership.objects.filter(user=request.user, programme=programme).exists():
        raise Http404
    current = terms_current(programme)
    if current is None:
        raise Http404("This programme has published no terms.")
    if request.method == "POST":
        choice = request.POST.get("answer")
        if choice not in ("accept", "decline"):
            messages.error(request, "Choose to accept or to decline.")
        else:
            try:
                terms_respond(user=request.user, terms=current, accepted=choice == "accept", ip=client_ip(request))
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                if choice == "decline":
                    messages.info(
                        request,
                        "You declined. Everything you made and earned stays yours, and you can still read and export "
                        "your data; generating needs the current terms.",
                    )
                return redirect("generation:job_list")
    previous = terms_last_accepted(request.user, programme)
    response = TermsResponse.objects.filter(user=request.user, terms=current).first()
    context = {
        "programme": programme,
        "terms": current,
        "previous": previous if previous != current else None,
        "diff": terms_diff(previous, current) if previous and previous != current else [],
        "response": response,
    }
    return render(request, "access/terms.html", context)
