"""A person's own data, as a zip they can take away at any time, even while their access is suspended.

Each file in the zip is one section: a name, what it holds (for the README) and a builder that turns
the person into the file's text. Every app adds its own sections with ``@section(...)`` in its
``exports`` module, which its AppConfig.ready() imports; so access needs to know none of them, and the
files follow the order of INSTALLED_APPS. Only metadata goes in: never the clips themselves, never
secrets (token digests, session keys).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from access.audit import audit_person
from access.models import ApiToken, AuditEvent, Membership


@dataclass(frozen=True)
class Section:
    filename: str
    description: str
    build: Callable[..., str]


SECTIONS: list[Section] = []


def section(filename: str, description: str) -> Callable:
    """Add the decorated builder (person -> the file's text) to every export as ``filename``."""

    def register(build: Callable[..., str]) -> Callable[..., str]:
        if any(existing.filename == filename for existing in SECTIONS):
            raise ImproperlyConfigured(f"Two data export sections are called {filename}.")
        SECTIONS.append(Section(filename, description, build))
        return build

    return register


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def json_text(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n"


# --- Sections ------------------------------------------------------------------------------------


@section("profile.json", "Your account: email, display name, when you joined, your programmes and roles.")
def profile_json(user) -> str:
    memberships = Membership.objects.filter(user=user).select_related("programme", "cohort").order_by("created_at")
    return json_text(
        {
            "email": user.email,
            "display_name": user.display_name,
            "date_joined": when(user.date_joined),
            "memberships": [
                {
                    "programme": membership.programme.name,
                    "cohort": membership.cohort.name if membership.cohort else None,
                    "role": membership.role,
                    "since": when(membership.created_at),
                }
                for membership in memberships
            ],
        }
    )


@section(
    "api_tokens.json",
    "Your API tokens: name, first characters, scopes, dates, last use, state. "
    "The tokens themselves are not kept by Backlot and are not included.",
)
def api_tokens_json(user) -> str:
    # Never the digest: it is all an attacker would need to match a stolen token.
    tokens = ApiToken.objects.filter(user=user).order_by("created_at")
    return json_text(
        [
            {
                "name": token.name,
                "hint": token.hint,
                "scopes": token.scopes,
                "created_at": when(token.created_at),
                "expires_at": when(token.expires_at),
                "last_used_at": when(token.last_used_at),
                "last_used_ip": token.last_used_ip,
                "state": token.state,
            }
            for token in tokens
        ]
    )


@section("audit.json", "Events in Backlot's audit trail that were done by you or to you.")
def audit_json(user) -> str:
    events = AuditEvent.objects.filter(subject=user) | AuditEvent.objects.filter(actor=user)
    return json_text(
        [
            {"at": when(at), "action": action, "target": target, "reason": reason}
            for at, action, target, reason in events.order_by("at", "id").values_list(
                "at", "action", "target", "reason"
            )
        ]
    )


# --- The zip -------------------------------------------------------------------------------------


def _readme(user, made_at: datetime) -> str:
    lines = [
        "Backlot: export of your data",
        "",
        f"For: {user.email}",
        f"Made: {made_at.isoformat()}",
        "",
        "Times are ISO 8601, in UTC unless they say otherwise.",
        "",
        "Files:",
    ]
    lines += [f"  {section.filename}: {section.description}" for section in SECTIONS]
    return "\n".join(lines) + "\n"


def export_build(user) -> bytes:
    """The zip of everything ``user`` may take away, made in memory."""
    made_at = timezone.now()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", _readme(user, made_at))
        for section in SECTIONS:
            archive.writestr(section.filename, section.build(user))
    return buffer.getvalue()


def export_create(*, user, ip: str | None = None) -> bytes:
    """Build ``user``'s export and record that it was taken."""
    content = export_build(user)
    audit_person("access.data_exported", actor=user, subject=user, target=user.email, ip=ip, bytes=len(content))
    return content
