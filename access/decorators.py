"""Guards for the pages of access/manage_views.py."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404

from access.models import Programme
from access.policy import is_programme_admin, may_set_up_programmes


def programme_admin_required(view):
    """Load the programme named by the URL's ``slug`` and call ``view(request, programme, ...)``, for
    that programme's admins only. Anyone else gets 404 whether or not the programme exists, so these
    pages do not reveal which programmes there are; anonymous visitors are sent to sign in first."""

    @wraps(view)
    def wrapper(request, slug, *args, **kwargs):
        programme = Programme.objects.filter(slug=slug).first()
        if programme is None or not is_programme_admin(request.user, programme):
            raise Http404("No such programme.")
        return view(request, programme, *args, **kwargs)

    return login_required(wrapper)


def programme_access_required(allowed):
    """Like programme_admin_required, for the people ``allowed(user, programme)`` lets in."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            programme = Programme.objects.filter(slug=slug).first()
            if programme is None or not allowed(request.user, programme):
                raise Http404("No such programme.")
            return view(request, programme, *args, **kwargs)

        return login_required(wrapper)

    return decorator


def operator_staff_required(view):
    """For the operator's staff only (access.policy.may_set_up_programmes); anyone else gets 404, anonymous
    visitors are sent to sign in first."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not may_set_up_programmes(request.user):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)
