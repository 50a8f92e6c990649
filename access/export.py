"""A person's own data, as a zip they can take away at any time, even while their access is suspended.

Each file in the zip is one section: a name, what it holds (for the README) and a builder that turns
the person into the file's text. A new section is one more function and one more entry in SECTIONS.
Only metadata goes in: never the clips themselves, never secrets (token digests, session keys).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from access.audit import audit_person
from access.models import ApiToken, AuditEvent, Membership
from core.csv_export import csv_text


@dataclass(frozen=True)
class Section:
    filename: str
    description: str
    build: Callable[..., str]


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n"


# --- Sections ------------------------------------------------------------------------------------


def profile_json(user) -> str:
    memberships = Membership.objects.filter(user=user).select_related("programme", "cohort").order_by("created_at")
    return _json(
        {
            "email": user.email,
            "display_name": user.display_name,
            "date_joined": _when(user.date_joined),
            "memberships": [
                {
                    "programme": membership.programme.name,
                    "cohort": membership.cohort.name if membership.cohort else None,
                    "role": membership.role,
                    "since": _when(membership.created_at),
                }
                for membership in memberships
            ],
        }
    )


JOB_FIELDS = [
    "id", "prompt", "negative_prompt", "model_key", "num_frames", "width", "height", "num_steps",
    "guidance_scale", "seed", "state", "error", "queued_at", "started_at", "finished_at", "gpu_seconds",
    "charged_seconds",
]  # fmt: skip


def _job_rows(user) -> list[dict]:
    from generation.models import RenderJob

    rows = []
    for job in RenderJob.objects.filter(owner=user).order_by("queued_at").values(*JOB_FIELDS).iterator():
        job["id"] = str(job["id"])
        for field in ("queued_at", "started_at", "finished_at"):
            job[field] = _when(job[field])
        rows.append(job)
    return rows


def jobs_csv(user) -> str:
    return csv_text(JOB_FIELDS, _job_rows(user))


def jobs_json(user) -> str:
    return _json(_job_rows(user))


def api_tokens_json(user) -> str:
    # Never the digest: it is all an attacker would need to match a stolen token.
    tokens = ApiToken.objects.filter(user=user).order_by("created_at")
    return _json(
        [
            {
                "name": token.name,
                "hint": token.hint,
                "scopes": token.scopes,
                "created_at": _when(token.created_at),
                "expires_at": _when(token.expires_at),
                "last_used_at": _when(token.last_used_at),
                "last_used_ip": token.last_used_ip,
                "state": token.state,
            }
            for token in tokens
        ]
    )


def audit_json(user) -> str:
    events = AuditEvent.objects.filter(subject=user) | AuditEvent.objects.filter(actor=user)
    return _json(
        [
            {"at": _when(at), "action": action, "target": target, "reason": reason}
            for at, action, target, reason in events.order_by("at", "id").values_list(
                "at", "action", "target", "reason"
            )
        ]
    )


def _feedback_section(name: str) -> Callable[..., str]:
    """A builder from feedback/exports.py, imported when the export is made (feedback builds on access)."""

    def build(user) -> str:
        from feedback import exports

        return getattr(exports, name)(user)

    return build


SECTIONS: list[Section] = [
    Section("profile.json", "Your account: email, display name, when you joined, your programmes and roles.",
            profile_json),
    Section("jobs.csv", "Every render job you submitted, one row each: settings, state and timings. "
            "The video files are not included; download them from each clip's page.", jobs_csv),
    Section("jobs.json", "The same jobs as jobs.csv, as JSON.", jobs_json),
    Section("api_tokens.json", "Your API tokens: name, first characters, scopes, dates, last use, state. "
            "The tokens themselves are not kept by Backlot and are not included.", api_tokens_json),
    Section("audit.json", "Events in Backlot's audit trail that were done by you or to you.", audit_json),
    Section("ratings.csv", "Your ratings of your clips: scores, comment, tags, whether accepted.",
            _feedback_section("ratings_csv")),
    Section("bug_reports.csv", "Your bug reports: what you wrote, their state and response times.",
            _feedback_section("bug_reports_csv")),
    Section("findings.csv", "Your red-team findings (confidential: only you and the programme's admins see them).",
            _feedback_section("findings_csv")),
    Section("ledger.csv", "Every entry in your contribution ledger: credits, corrections and payouts.",
            _feedback_section("ledger_csv")),
    Section("showcase.csv", "Clips you offered for showcase use, and each use made of them.",
            _feedback_section("showcase_csv")),
]  # fmt: skip


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
