from django.utils.functional import SimpleLazyObject

from access.models import Grant, Membership, Role
from access.policy import may_render


def navigation(request):
    """What the header offers this person, each by the rule its page enforces, asked lazily (a page that shows no
    header costs nothing): ``may_render_now`` (Generate: access.policy.may_render), ``had_grant`` (My clips: anyone
    who could ever render), ``in_programme`` (Report a bug), ``reviews_films`` (Reviews: a reviewer's membership,
    as competition.reviews.is_reviewer) and ``manages_programmes`` (Manage: as access.policy.is_programme_admin).
    The three membership answers come from one query."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated

    def roles() -> set[str]:
        return set(Membership.objects.filter(user=user).values_list("role", flat=True)) if signed_in else set()

    held = SimpleLazyObject(roles)
    # What access.middleware.AccessMiddleware decided for this person at the start of the request, if it did.
    asked, site = getattr(request, "site_decision", (None, None))
    site = site if signed_in and asked == user.pk else None
    return {
        "may_render_now": SimpleLazyObject(lambda: signed_in and bool(may_render(user, site=site))),
        "had_grant": SimpleLazyObject(lambda: signed_in and Grant.objects.filter(user=user).exists()),
        "in_programme": SimpleLazyObject(lambda: bool(held)),
        "reviews_films": SimpleLazyObject(lambda: Role.REVIEWER in held),
        "manages_programmes": SimpleLazyObject(lambda: signed_in and (user.is_superuser or Role.ADMIN in held)),
    }
