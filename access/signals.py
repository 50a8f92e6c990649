import contextlib

from allauth.account.signals import user_logged_in, user_signed_up
from django.dispatch import receiver

from access import sign_in, two_factor  # noqa: F401 (connect the sign-in and authenticator receivers)
from access.adapters import INVITATION_SESSION_KEY
from access.audit import audit_person, client_ip
from access.invitations import InvitationInvalid, invitation_accept


@receiver(user_signed_up)
def accept_invitation_on_sign_up(sender, request, user, **kwargs):
    token = request.session.pop(INVITATION_SESSION_KEY, None)
    if token:
        invitation_accept(token=token, user=user, ip=client_ip(request))
    audit_person("access.signed_up", actor=user, subject=user, target=user.email, ip=client_ip(request))


@receiver(user_logged_in)
def accept_invitation_on_sign_in(sender, request, user, **kwargs):
    """An existing account that followed an invitation link joins on signing in."""
    token = request.session.pop(INVITATION_SESSION_KEY, None)
    if token:
        with contextlib.suppress(InvitationInvalid):
            invitation_accept(token=token, user=user, ip=client_ip(request))
