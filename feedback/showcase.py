"""The showcase licence: a tester offers a clip, per clip and revocably; each use pays the published fee."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from access.audit import audit
from access.policy import is_programme_admin
from core.text import text_problem
from feedback.clips import job_programme
from feedback.ledger import ledger_credit, own_work_refuse
from feedback.models import LedgerEntry, ShowcaseOffer, ShowcaseUse
from generation.models import RenderJob


@transaction.atomic
def showcase_offer(*, job: RenderJob, artist, credit_name: str = "") -> ShowcaseOffer:
    if job.owner_id != artist.pk:
        raise PermissionDenied("You can only offer your own clips.")
    if job.state != RenderJob.State.SUCCEEDED:
        raise ValidationError("Only finished clips can be offered for showcase use.")
    credit_name = (credit_name or artist.display_name or "").strip()
    if not credit_name or len(credit_name) > 80:
        raise ValidationError({"credit_name": "Give the name to credit you by (at most 80 characters)."})
    if problem := text_problem(credit_name):
        raise ValidationError({"credit_name": problem})
    offer = ShowcaseOffer.objects.select_for_update().filter(job=job).first()
    if offer is None:
        return ShowcaseOffer.objects.create(
            job=job, artist=artist, programme=job_programme(job), credit_name=credit_name
        )
    offer.credit_name, offer.offered_at, offer.revoked_at = credit_name, timezone.now(), None
    offer.save(update_fields=["credit_name", "offered_at", "revoked_at"])
    return offer


@transaction.atomic
def showcase_revoke(*, offer: ShowcaseOffer, artist) -> ShowcaseOffer:
    """Withdraw the offer: no further uses; uses already made stand (and stay paid)."""
    offer = ShowcaseOffer.objects.select_for_update().get(pk=offer.pk)
    if offer.artist_id != artist.pk:
        raise PermissionDenied("Only the artist can withdraw their offer.")
    if offer.revoked_at is None:
        offer.revoked_at = timezone.now()
        offer.save(update_fields=["revoked_at"])
    return offer


@transaction.atomic
def showcase_use_record(*, offer: ShowcaseOffer, kind: str, description: str, actor, ip=None) -> ShowcaseUse:
    """Record one use of an offered clip; the artist is credited by name and paid the showcase fee."""
    offer = ShowcaseOffer.objects.select_for_update().select_related("job", "artist", "programme").get(pk=offer.pk)
    if not is_programme_admin(actor, offer.programme):
        raise PermissionDenied("Only the programme's admins record showcase uses.")
    own_work_refuse(actor=actor, person=offer.artist, what="record a paid use of your own clip")
    if not offer.is_active:
        raise ValidationError("The artist has withdrawn this clip from showcase use.")
    errors = {}
    if kind not in ShowcaseUse.Kind.values:
        errors["kind"] = f"Choose one of: {', '.join(ShowcaseUse.Kind.values)}."
    if not description.strip() or len(description) > 300:
        errors["description"] = "Say where and how it was shown (at most 300 characters)."
    if errors:
        raise ValidationError(errors)
    use = ShowcaseUse.objects.create(
        offer=offer, kind=kind, description=description.strip(), credit_name=offer.credit_name, recorded_by=actor
    )
    ledger_credit(
        person=offer.artist,
        programme=offer.programme,
        kind=LedgerEntry.Kind.SHOWCASE,
        source=use,
        actor=actor,
        reason=f"Clip {offer.job.short_id} shown ({use.get_kind_display().lower()}: {use.description})",
    )
    audit(
        "feedback.showcase_used",
        actor=actor,
        subject=offer.artist,
        programme=offer.programme,
        target=use,
        ip=ip,
        job=str(offer.job_id),
        kind=kind,
    )
    return use
