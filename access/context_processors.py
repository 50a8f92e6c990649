from django.utils.functional import SimpleLazyObject

from access.models import Role
from access.standing import request_standing


def navigation(request):
    """What the header offers this person, each by the rule its page enforces, from their standing
    (access.standing), asked lazily (a page that shows no header costs nothing): ``may_render_now`` (Generate:
    access.policy.may_render), ``had_grant`` (My clips: anyone who could ever render), ``in_programme`` (Report a
    bug), ``reviews_films`` (Reviews: a reviewer's membership, as competition.reviews.is_reviewer) and
    ``manages_programmes`` (Manage: as access.policy.is_programme_admin)."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated

    def asked(answer):
        return SimpleLazyObject(lambda: signed_in and answer(request_standing(request)))

    return {
        "may_render_now": asked(lambda kept: bool(kept.render)),
        "had_grant": asked(lambda kept: kept.had_grant),
        "in_programme": asked(lambda kept: bool(kept.roles)),
        "reviews_films": asked(lambda kept: Role.REVIEWER in kept.roles),
        "manages_programmes": asked(lambda kept: user.is_superuser or Role.ADMIN in kept.roles),
    }
