import hashlib

from allauth.account.adapter import get_adapter
from allauth.usersessions.internal import usersessionkit
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from access import leaks, two_factor
from access.audit import client_ip
from access.models import LeakAlert
from access.policy import staff_two_factor
from access.standing import request_standing

# What monitors poll (config/health.py): open to anyone, whoever's session the request carries.
MONITOR_PATHS = ("/healthz", "/livez", "/readyz", "/metrics")
# Paths a shut-out person can still reach: signing out, and the assets of the page that explains why.
OPEN_PREFIXES = ("/accounts/logout/", "/account/export/", "/static/", *MONITOR_PATHS)
# Leak watch looks at every signed-in request except these (an export is exactly what a thief would take).
UNWATCHED_PREFIXES = ("/accounts/logout/", "/static/", *MONITOR_PATHS)


class AccessMiddleware:
    """Refuse every page and API request of a signed-in person whose access has been taken away,
    with a page (or a 403 JSON body) that says why. Runs on every request, so revocation is immediate."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(OPEN_PREFIXES):
            decision = request_standing(request).site
            if not decision:
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": decision.reason, "code": "access_suspended"}, status=403)
                return render(request, "access/blocked.html", {"reason": decision.reason}, status=403)
        return self.get_response(request)


class LeakWatchMiddleware:
    """Note the network each signed-in session is used from; a session seen from more networks than
    the threshold allows is ended at once and reported to the admins."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        key = request.session.session_key if hasattr(request, "session") else None
        if user is not None and user.is_authenticated and key and not request.path.startswith(UNWATCHED_PREFIXES):
            credential = leaks.session_credential(key)
            networks = leaks.credential_sighted(credential=credential, user=user, ip=client_ip(request))
            if leaks.too_many_networks(networks):
                leaks.alert_raise(
                    kind=LeakAlert.Kind.NETWORKS, user=user, credential=credential, session_key=key, networks=networks
                )
                reason = (
                    f"This session was stopped: it was used from {networks} different networks within "
                    "the hour. Sign in again; the programme's admins have been told."
                )
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": reason, "code": "credential_suspended"}, status=403)
                return render(request, "access/blocked.html", {"reason": reason}, status=403)
        return self.get_response(request)


class TermsMiddleware:
    """Before any other page, a tester answers the current terms of their programme (once per version)."""

    ALLOWED = ("/terms/", "/account/export/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        path = request.path
        if (
            user is not None
            and user.is_authenticated
            and not path.startswith(OPEN_PREFIXES + self.ALLOWED)
            and not path.startswith("/api/")
        ):
            due = request_standing(request).terms_due
            if due:
                return redirect("terms:answer", programme=due)
        return self.get_response(request)


# Staff pages: programme management, leak review, the staff API, the Django admin, and reviewing (unreleased films).
STAFF_PREFIXES = ("/manage/", "/staff/", "/leak-alerts/", "/api/v1/audit/", "/admin/", "/reviews/")


class StaffMfaMiddleware:
    """Staff pages need TOTP two-factor authentication set up first; until then they lead to its setup."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.path.startswith(STAFF_PREFIXES):
            decision = staff_two_factor(user)
            if not decision:
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": decision.reason, "code": "mfa_required"}, status=403)
                messages.warning(request, decision.reason)
                return redirect("mfa_activate_totp")
        return self.get_response(request)


class SecondFactorMiddleware:
    """A session of an account with an authenticator must have passed its second factor (access/two_factor.py):
    one that did not is ended before it reaches anything. And a session whose staff member removed their last
    authenticator ends once that page has answered."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not two_factor.session_second_factor(request, user):
            two_factor.session_refused(request, user)
            reason = (
                "This account has two-factor authentication, and this session did not pass it. "
                "Sign in again with your password and your authenticator code."
            )
            return self._signed_out(request, reason, code="second_factor_missing")
        response = self.get_response(request)
        if getattr(request, two_factor.ENDED_ATTRIBUTE, False) and request.user.is_authenticated:
            logout(request)
            reason = (
                "You removed your last authenticator, so every session of yours has ended. Staff pages need "
                "two-factor authentication: sign in again and set up an authenticator app."
            )
            return self._signed_out(request, reason, code="second_factor_removed")
        return response

    @staticmethod
    def _signed_out(request, reason: str, *, code: str):
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": reason, "code": code}, status=403)
        messages.warning(request, reason)
        return redirect_to_login(request.get_full_path(), login_url=reverse("account_login"))


class UserSessionsMiddleware:
    """allauth's record of each signed-in session (the account's sessions page: its address, browser and when it
    was last used), written at most once every SESSION_SEEN_SECONDS while the session's address and browser stay
    the same. allauth's own middleware writes the row on every request (a transaction of five queries). A new
    address or browser is written at once, so allauth's session_client_changed signal (the new-network email)
    fires as before."""

    SESSION_SEEN_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if user is not None and user.is_authenticated and session is not None and session.session_key:
            seen = (get_adapter(request).get_client_ip(request), request.META.get("HTTP_USER_AGENT", ""))
            key = "access.session-seen:" + hashlib.sha256(session.session_key.encode()).hexdigest()
            if cache.get(key) != seen:
                usersessionkit.track_activity(request, user=user, session=session)
                cache.set(key, seen, self.SESSION_SEEN_SECONDS)
        return self.get_response(request)
