"""Deployment checks (``manage.py check --deploy``) for what access sends people: invitation links, sign-in notices
and password resets are emails whose links start with SITE_URL. On a new box both are easy to leave at their
development values, and nothing else would say so until the first invitation fails to arrive or points at
localhost."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 (names to refuse, not to bind)
# Django's backends that deliver nothing: the console's (the default here, printing to the log), memory, nothing.
UNDELIVERED_EMAIL = {
    "django.core.mail.backends.console.EmailBackend": "prints every email to the log",
    "django.core.mail.backends.locmem.EmailBackend": "keeps every email in memory",
    "django.core.mail.backends.dummy.EmailBackend": "throws every email away",
}


def site_url_problem(site_url: str) -> str:
    """Why ``site_url`` cannot be the public address emails link to, or "" when it can."""
    parts = urlsplit(site_url or "")
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return f"SITE_URL is {site_url!r}, not an address such as https://backlot.example.org"
    if host in LOOPBACK_HOSTS or host.endswith(".localhost"):
        return f"SITE_URL is still the development value {site_url!r}: links in emails point at this machine"
    return ""


@checks.register(checks.Tags.security, deploy=True)
def site_url_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problem = site_url_problem(settings.SITE_URL)
    if not problem:
        return []
    return [
        checks.Warning(
            f"{problem}.",
            hint="Set SITE_URL to the public address people use, e.g. https://backlot.example.org "
            "(in /etc/backlot/backlot.env).",
            id="access.W001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def email_backend_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    does = UNDELIVERED_EMAIL.get(settings.EMAIL_BACKEND)
    if does is None:
        return []
    return [
        checks.Warning(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}, which {does}: invitations, sign-in notices and "
            "password resets reach nobody.",
            hint="Set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST, EMAIL_PORT, "
            "EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, DEFAULT_FROM_EMAIL. The operator's own account needs no email "
            "(manage.py operator_create).",
            id="access.W002",
        )
    ]
