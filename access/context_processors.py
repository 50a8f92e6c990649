from django.utils.functional import SimpleLazyObject

from access.models import Grant, Membership
from access.policy import is_programme_admin, may_render


def programme_admin(request):
    """``manages_programmes``: whether to show the Manage link. Lazy, so a page that never asks
    costs no query, and one that does costs one."""
    user = getattr(request, "user", None)
    return {"manages_programmes": SimpleLazyObject(lambda: user is not None and is_programme_admin(user))}


def navigation(request):
    """What the header offers this person, each answered lazily by the rule its page enforces: ``may_render_now``
    (Generate), ``had_grant`` (My clips: anyone who could ever render) and ``in_programme`` (Report a bug)."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "may_render_now": SimpleLazyObject(lambda: signed_in and bool(may_render(user))),
        "had_grant": SimpleLazyObject(lambda: signed_in and Grant.objects.filter(user=user).exists()),
        "in_programme": SimpleLazyObject(lambda: signed_in and Membership.objects.filter(user=user).exists()),
    }
