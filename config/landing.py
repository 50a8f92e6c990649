"""Where a person lands at / and after signing in: the first page they can use, never one that refuses them."""

from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from access.policy import is_programme_admin, may_manage_queue, may_render
from competition.reviews import is_reviewer


def landing_url_name(user) -> str:
    if not user.is_authenticated or may_render(user):
        return "generation:job_list"
    if is_reviewer(user):
        return "reviews:index"
    if is_programme_admin(user):
        return "access:manage_index"
    if may_manage_queue(user):
        return "generation_staff:queue"
    return "generation:job_list"


@require_GET
def home(request):
    return redirect(landing_url_name(request.user))
