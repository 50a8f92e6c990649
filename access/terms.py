"""Programme terms: versions, acceptance, and what a tester still owes an answer to.

Terms are never retroactive: each render records the version it was made under, and declining a
new version stops new work without touching anything earned or the person's own data.
"""

from __future__ import annotations

import difflib

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, QuerySet, Subquery

from access.audit import audit
from access.models import TESTER_ROLES, Membership, Programme, TermsResponse, TermsVersion


def _current(programme) -> QuerySet[TermsVersion]:
    """The programme's latest terms version, or nothing if it has none. ``programme``: a programme, or a
    reference to one in the query this is part of."""
    latest = TermsVersion.objects.filter(programme=programme).order_by("-version").values("pk")[:1]
    return TermsVersion.objects.filter(pk=Subquery(latest))


def _accepted_by(user) -> Exists:
    return Exists(TermsResponse.objects.filter(user=user, terms=OuterRef("pk"), accepted=True))


def terms_current(programme) -> TermsVersion | None:
    return _current(programme).first()


def _tester_programmes(user):
    return Programme.objects.filter(memberships__user=user, memberships__role__in=TESTER_ROLES).distinct()


def terms_unanswered(user) -> list[TermsVersion]:
    """Current terms of the programmes ``user`` tests in that they have neither accepted nor declined, by programme
    name. One query (every page asks, before anything else)."""
    current = _current(OuterRef("programme")).filter(programme__in=_tester_programmes(user))
    answered = TermsResponse.objects.filter(user=user, terms=OuterRef("pk"))
    return list(current.exclude(Exists(answered)).select_related("programme").order_by("programme__name"))


def terms_owed(user, programme="programme") -> Exists:
    """True where ``user`` has not accepted the current terms of the ``programme`` (a reference to a programme
    column of the query it annotates); False where they accepted them or the programme has no terms."""
    return Exists(_current(OuterRef(OuterRef(programme))).exclude(_accepted_by(user)))


def terms_accepted_current(user, programme) -> TermsVersion | None | bool:
    """The current version if ``user`` accepted it, None if there are no terms, False otherwise. One query."""
    current = _current(programme).annotate(accepted=_accepted_by(user)).first()
    if current is None:
        return None
    return current if current.accepted else False


def terms_last_accepted(user, programme) -> TermsVersion | None:
    response = (
        TermsResponse.objects.filter(user=user, terms__programme=programme, accepted=True)
        .select_related("terms")
        .order_by("-terms__version")
        .first()
    )
    return response.terms if response else None


def terms_diff(old: TermsVersion | None, new: TermsVersion) -> list[str]:
    """Line-by-line changes from the version a person last accepted to ``new``."""
    if old is None:
        return []
    return [
        line
        for line in difflib.unified_diff(old.text.splitlines(), new.text.splitlines(), lineterm="", n=1)
        if not line.startswith(("---", "+++"))
    ]


@transaction.atomic
def terms_publish(*, programme, text: str, changes: str = "", actor=None, ip=None) -> TermsVersion:
    if not text.strip():
        raise ValidationError({"text": "The terms cannot be empty."})
    latest = TermsVersion.objects.select_for_update().filter(programme=programme).aggregate(v=Max("version"))["v"]
    if latest and not changes.strip():
        raise ValidationError({"changes": "Say what changed: testers are shown it before they accept."})
    terms = TermsVersion.objects.create(
        programme=programme, version=(latest or 0) + 1, text=text.strip(), changes=changes.strip(), published_by=actor
    )
    audit("access.terms_published", actor=actor, programme=programme, target=terms, ip=ip, version=terms.version)
    return terms


@transaction.atomic
def terms_respond(*, user, terms: TermsVersion, accepted: bool, ip=None) -> TermsResponse:
    if not Membership.objects.filter(user=user, programme=terms.programme).exists():
        raise ValidationError("These terms belong to a programme you are not in.")
    if terms != terms_current(terms.programme):
        raise ValidationError("A newer version of these terms has been published; answer that one.")
    response, _ = TermsResponse.objects.update_or_create(
        user=user, terms=terms, defaults={"accepted": accepted, "ip": ip}
    )
    audit(
        "access.terms_accepted" if accepted else "access.terms_declined",
        actor=user,
        subject=user,
        programme=terms.programme,
        target=terms,
        ip=ip,
        version=terms.version,
    )
    return response
