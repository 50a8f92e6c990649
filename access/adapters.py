import time

from allauth.account import app_settings as account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
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

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        # ACCOUNT_REAUTHENTICATION_TIMEOUT is documented as "a successful (re)authentication within this many
        # seconds skips the prompt"; allauth 65.22 counts only explicit reauthentications, so setting up
        # two-factor seconds after signing in asked for the password again. The sign-in counts here.
        if not super().is_reauthentication_required(app=app, **kwargs):
            return False
        return not signed_in_recently(self.request)


def signed_in_recently(request) -> bool:
    """Did this session's person complete a sign-in (or a reauthentication) within ACCOUNT_REAUTHENTICATION_TIMEOUT?"""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    times = [record.get("at") or 0 for record in get_authentication_records(request, user)]
    return bool(times) and time.time() - max(times) < account_settings.REAUTHENTICATION_TIMEOUT
