from django.utils.functional import SimpleLazyObject

from competition.reviews import is_reviewer


def reviewer(request):
    """``reviews_films``: whether to show the Reviews link (the rule the review pages enforce), asked lazily."""
    user = getattr(request, "user", None)
    return {"reviews_films": SimpleLazyObject(lambda: user is not None and user.is_authenticated and is_reviewer(user))}
