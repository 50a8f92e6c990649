"""Personal API tokens: ``blt_`` + 32 random base62 characters + a 6-character checksum.

The prefix and checksum let secret scanners (and our own leak check) recognise a real Backlot token
in text without a database lookup, and reject typos before one. Only the SHA-256 digest is stored.
"""

from __future__ import annotations

import re
import secrets
import string
import zlib
from datetime import timedelta
from functools import cache

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from access.audit import audit_person
from access.models import ApiToken, User, token_digest
from core.hot_reads import instance_from, one_row

PREFIX = "blt_"
_ALPHABET = string.digits + string.ascii_letters
_BODY_LENGTH = 32
_CHECK_LENGTH = 6
TOKEN_PATTERN = re.compile(rf"\b{PREFIX}[0-9A-Za-z]{{{_BODY_LENGTH + _CHECK_LENGTH}}}\b")
MAX_DAYS = 365


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK_LENGTH)


def token_generate() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    return f"{PREFIX}{body}{_checksum(body)}"


def token_well_formed(token: str) -> bool:
    if not TOKEN_PATTERN.fullmatch(token or ""):
        return False
    body, check = token[len(PREFIX) : -_CHECK_LENGTH], token[-_CHECK_LENGTH:]
    return secrets.compare_digest(_checksum(body), check)


def tokens_in_text(text: str) -> list[str]:
    """Every well-formed Backlot token in ``text``."""
    return [match for match in TOKEN_PATTERN.findall(text or "") if token_well_formed(match)]


def token_lookup(token: str) -> ApiToken | None:
    if not token_well_formed(token):
        return None
    return ApiToken.objects.select_related("user").filter(digest=token_digest(token)).first()


HOT_TOKEN_FIELDS = ("id", "user_id", "scopes", "expires_at", "revoked_at", "suspended_at")
HOT_USER_FIELDS = ("id", "is_active", "session_epoch", "standing_version")


def token_lookup_hot(token: str) -> ApiToken | None:
    """token_lookup for the hot read-only paths (the API's progress poll): the token's state and scopes and
    its owner's activity and session epoch from one indexed read written out once, without the ORM's query
    building (which cost more than the read). The instances' other fields load on first use."""
    if not token_well_formed(token):
        return None
    row = one_row(_hot_token_sql(connection.vendor), [token_digest(token)])
    if row is None:
        return None
    record = instance_from(ApiToken, HOT_TOKEN_FIELDS, row[: len(HOT_TOKEN_FIELDS)])
    record.user = instance_from(User, HOT_USER_FIELDS, row[len(HOT_TOKEN_FIELDS) :])
    return record


@cache
def _hot_token_sql(vendor: str) -> str:
    def columns(model, alias, names):
        return ", ".join(f'{alias}."{model._meta.get_field(name).column}"' for name in names)

    # Only the models' own table and column names are written in; the digest is a parameter.
    return (
        f"SELECT {columns(ApiToken, 't', HOT_TOKEN_FIELDS)}, {columns(User, 'u', HOT_USER_FIELDS)} "  # noqa: S608
        f'FROM "{ApiToken._meta.db_table}" t JOIN "{User._meta.db_table}" u ON u."id" = t."user_id" '
        'WHERE t."digest" = %s'
    )


def _validate(*, name: str, scopes: list[str], days: int) -> None:
    errors = {}
    if not name.strip():
        errors["name"] = "Name the token after where you will use it."
    unknown = set(scopes) - set(ApiToken.Scope.values)
    if not scopes or unknown:
        errors["scopes"] = f"Choose one or more of: {', '.join(ApiToken.Scope.values)}."
    if not 1 <= days <= MAX_DAYS:
        errors["days"] = f"Tokens last from 1 to {MAX_DAYS} days."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def token_create(*, user, name: str, scopes: list[str], days: int = 90, ip=None) -> tuple[ApiToken, str]:
    """Make a token; returns (record, the token itself), the only time the token is seen."""
    _validate(name=name, scopes=scopes, days=days)
    token = token_generate()
    record = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        scopes=sorted(set(scopes)),
        digest=token_digest(token),
        hint=token[:10],
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_person(
        "access.token_created", actor=user, subject=user, target=record, ip=ip, scopes=record.scopes, days=days
    )
    return record, token


@transaction.atomic
def token_rotate(*, record: ApiToken, actor, ip=None) -> tuple[ApiToken, str]:
    """Replace a token with a new one of the same name, scopes and lifetime; the old one stops at once."""
    record = ApiToken.objects.select_for_update().get(pk=record.pk)
    if record.state in ("revoked", "suspended"):
        raise ValidationError(f"This token is {record.state}; make a new one instead.")
    days = max(1, min(MAX_DAYS, (record.expires_at - record.created_at).days))
    _revoke(record, actor=actor, reason="Rotated")
    new, token = token_create(user=record.user, name=record.name, scopes=record.scopes, days=days, ip=ip)
    audit_person("access.token_rotated", actor=actor, subject=record.user, target=record, ip=ip, replaced_by=new.pk)
    return new, token


def _revoke(record: ApiToken, *, actor, reason: str) -> None:
    record.revoked_at = timezone.now()
    record.revoked_by = actor
    record.revoke_reason = reason
    record.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])


@transaction.atomic
def token_revoke(*, record: ApiToken, actor, reason: str = "", ip=None) -> ApiToken:
    """Stop a token for good (its owner deleting it, or an admin revoking it)."""
    record = ApiToken.objects.select_for_update().get(pk=record.pk)
    if record.revoked_at:
        raise ValidationError("This token is already revoked.")
    _revoke(record, actor=actor, reason=reason.strip() or "Revoked")
    audit_person(
        "access.token_revoked", actor=actor, subject=record.user, target=record, ip=ip, reason=record.revoke_reason
    )
    return record


def token_touch(record: ApiToken, *, ip: str | None) -> None:
    """Note a use, at most once a minute per token unless the address changed."""
    now = timezone.now()
    stale = record.last_used_at is None or now - record.last_used_at > timedelta(minutes=1)
    if stale or record.last_used_ip != ip:
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now, last_used_ip=ip)
        record.last_used_at, record.last_used_ip = now, ip
