from django.contrib.auth import get_user_model
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from access.adapters import INVITATION_SESSION_KEY
from access.audit import client_ip
from access.invitations import InvitationInvalid, invitation_accept, invitation_for_token


@require_GET
def invitation_accept_view(request, token):
    """Where an invitation link lands: on to sign-up (or sign-in), or a page that says why not."""
    try:
        invitation = invitation_for_token(token)
    except InvitationInvalid as problem:
        return render(request, "access/invitation_invalid.html", {"problem": str(problem)}, status=410)
    if request.user.is_authenticated:
        try:
            invitation_accept(token=token, user=request.user, ip=client_ip(request))
        except InvitationInvalid as problem:
            return render(request, "access/invitation_invalid.html", {"problem": str(problem)}, status=409)
        return redirect("generation:job_list")
    request.session[INVITATION_SESSION_KEY] = token
    if get_user_model().objects.filter(email__iexact=invitation.email).exists():
        return redirect(reverse("account_login") + "?" + urlencode({"next": reverse("generation:job_list")}))
    # Following the emailed link proves the address; allauth then skips its own verification.
    from allauth.account.adapter import get_adapter

    get_adapter(request).stash_verified_email(request, invitation.email)
    return redirect(reverse("account_signup") + "?" + urlencode({"email": invitation.email}))
