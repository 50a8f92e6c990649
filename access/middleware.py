from django.http import JsonResponse
from django.shortcuts import render

from access.policy import may_use_site

# Paths a shut-out person can still reach: signing out, and the assets of the page that explains why.
OPEN_PREFIXES = ("/accounts/logout/", "/static/", "/healthz")


class AccessMiddleware:
    """Refuse every page and API request of a signed-in person whose access has been taken away,
    with a page (or a 403 JSON body) that says why. Runs on every request, so revocation is immediate."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(OPEN_PREFIXES):
            decision = may_use_site(user)
            if not decision:
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": decision.reason, "code": "access_suspended"}, status=403)
                return render(request, "access/blocked.html", {"reason": decision.reason}, status=403)
        return self.get_response(request)
