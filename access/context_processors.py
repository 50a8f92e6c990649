from django.utils.functional import SimpleLazyObject

from access.policy import is_programme_admin


def programme_admin(request):
    """``manages_programmes``: whether to show the Manage link. Lazy, so a page that never asks
    costs no query, and one that does costs one."""
    user = getattr(request, "user", None)
    return {"manages_programmes": SimpleLazyObject(lambda: user is not None and is_programme_admin(user))}
