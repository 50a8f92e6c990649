from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.core.exceptions import PermissionDenied

from access.invitations import InvitationInvalid, invitation_for_token
from core.client_address import client_ip

INVITATION_SESSION_KEY = "backlot_invitation"


def session_invitation(request):
    """The open invitation whose link this browser followed, if any."""
    token = request.session.get(INVITATION_SESSION_KEY) if request is not None else None
    if not token:
        return None
    try:
        return invitation_for_token(token)
    except InvitationInvalid:
        return None


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Sign-up is open only to someone holding a valid invitation link.
        return session_invitation(request) is not None

    def clean_email(self, email):
        invitation = session_invitation(self.request)
        if invitation is not None and email.strip().lower() != invitation.email.lower():
            raise forms.ValidationError(f"This invitation is for {invitation.email}; sign up with that address.")
        return super().clean_email(email)

    def get_client_ip(self, request):
        # allauth's sign-in rate limits, its recorded sessions and its emails all ask here.
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine the client's address.")
        return ip
