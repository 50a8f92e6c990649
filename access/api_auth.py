"""DRF authentication, permissions and throttles for personal API tokens."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from access import leaks
from access.audit import client_ip
from access.models import ApiToken, LeakAlert
from access.policy import staff_two_factor
from access.standing import standing
from access.tokens import token_lookup, token_touch


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer blt_…``. A token works only while it is active and its owner may use
    the site, so suspending a person (or the token) stops it on the next request."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as: Authorization: Bearer <token>.")
        record = token_lookup(header[1])
        if record is None:
            raise exceptions.AuthenticationFailed("This API token is not valid.")
        if record.state != "active":
            raise exceptions.AuthenticationFailed(f"This API token is {record.state}.")
        if not record.user.is_active:
            raise exceptions.AuthenticationFailed("This account is deactivated.")
        decision = standing(record.user).site
        if not decision:
            raise exceptions.PermissionDenied(decision.reason)
        ip = client_ip(request)
        credential = leaks.token_credential(record)
        networks = leaks.credential_sighted(credential=credential, user=record.user, ip=ip)
        if leaks.too_many_networks(networks):
            leaks.alert_raise(
                kind=LeakAlert.Kind.NETWORKS, user=record.user, credential=credential, token=record, networks=networks
            )
            raise exceptions.AuthenticationFailed(
                f"This API token is suspended: it was used from {networks} different networks within the hour."
            )
        token_touch(record, ip=ip)
        return record.user, record

    def authenticate_header(self, request):
        return self.keyword


def request_token(request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


# The token_scopes of what only reads; an endpoint that also writes adds its writing methods' scope.
READ_ONLY_SCOPES = dict.fromkeys(("GET", "HEAD", "OPTIONS"), "read")


class TokenHasScope(permissions.BasePermission):
    """A token may do only what its scopes allow; session users are not limited by scopes.
    Views name the scope each method needs in ``token_scopes``, e.g. {"GET": "read", "POST": "generate"}."""

    message = "This API token does not have the scope this request needs."

    def has_permission(self, request, view):
        token = request_token(request)
        if token is None:
            return True
        if not hasattr(view, request.method.lower()):
            return True  # a method the endpoint does not have: DRF answers 405, which changes nothing
        needed = getattr(view, "token_scopes", {}).get(request.method)
        if needed is None:
            return False
        self.message = f"This API token lacks the '{needed}' scope."
        return needed in token.scopes


class SessionOnly(permissions.BasePermission):
    """Staff endpoints never accept API tokens, whatever their scopes."""

    message = "API tokens cannot be used for staff endpoints; sign in instead."

    def has_permission(self, request, view):
        return request_token(request) is None


class StaffTwoFactor(permissions.BasePermission):
    """Staff, reviewers included, reach what staff see (unreleased films) only with two-factor authentication
    set up, whether they come with a session or a token."""

    message = "Staff need two-factor authentication: set up an authenticator app first."
    code = "mfa_required"

    def has_permission(self, request, view):
        return bool(staff_two_factor(request.user))


class TokenRateThrottle(throttling.SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        token = request_token(request)
        return self.cache_format % {"scope": self.scope, "ident": token.pk} if token else None


class PersonRateThrottle(throttling.UserRateThrottle):
    scope = "person"

    def get_ident(self, request):
        # DRF's own reading believes any X-Forwarded-For; anonymous callers are keyed on the resolved address.
        return client_ip(request) or ""


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "access.api_auth.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "blt_ personal API token"}
