"""Setting up a programme from the operator's console, in one step and all or nothing: the programme and the models
it offers, its first admin, and its first published contribution rates. Each part goes through its own service
(programmes.programme_create, programmes.membership_add or invitations.invitations_create, rates.rate_publish),
so each is audited as when done alone; any objection undoes the whole set-up."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from access.invitations import invitations_create
from access.models import Programme, Role
from access.people import normalise_email
from access.programmes import membership_add, programme_create
from access.rates import rate_publish


@dataclass(frozen=True)
class FirstRate:
    """One rate to publish with the programme: ``kind`` is a ContributionRate.Kind, at its general severity."""

    kind: str
    points: int
    amount: object


@dataclass(frozen=True)
class ProgrammeSetUp:
    programme: Programme
    admin_email: str
    admin_invited: bool  # True: no account had the address, so an invitation to be its admin was sent


def rate_field(kind: str, field: str) -> str:
    """The name under which a form carries the first rate of ``kind`` (its points or amount)."""
    return f"rate_{kind}_{field}"


@transaction.atomic
def programme_set_up(
    *,
    name: str,
    admin_email: str,
    actor,
    slug: str = "",
    description: str = "",
    model_keys=(),
    rates: list[FirstRate] = (),
    currency: str = "USD",
    ip=None,
) -> ProgrammeSetUp:
    """Create the programme; make ``admin_email`` its admin (an account with that address becomes admin now;
    for an address with no account an invitation to be admin is sent once this commits); publish ``rates``,
    in force from now, in ``currency``. A ValidationError names the field at fault and leaves nothing behind."""
    try:
        email = normalise_email(admin_email)
    except ValidationError:
        raise ValidationError({"admin_email": f"{admin_email!r} is not a valid email address."}) from None
    programme = programme_create(
        name=name, slug=slug, description=description, model_keys=model_keys, actor=actor, ip=ip
    )
    admin = get_user_model().objects.filter(email__iexact=email).first()
    if admin is not None:
        if not admin.is_active:
            raise ValidationError({"admin_email": f"{email} belongs to a deactivated account."})
        membership_add(user=admin, programme=programme, role=Role.ADMIN, actor=actor)
    else:
        _, skipped = invitations_create(
            programme=programme, cohort=None, role=Role.ADMIN, emails=[email], actor=actor, ip=ip
        )
        if skipped:
            raise ValidationError({"admin_email": f"{email}: {next(iter(skipped.values()))}."})
    for rate in rates:
        try:
            rate_publish(
                programme=programme,
                kind=rate.kind,
                points=rate.points,
                amount=rate.amount,
                currency=currency,
                actor=actor,
                ip=ip,
            )
        except ValidationError as error:
            raise ValidationError(_rate_errors(rate.kind, error)) from None
    return ProgrammeSetUp(programme=programme, admin_email=email, admin_invited=admin is None)


def _rate_errors(kind: str, error: ValidationError) -> dict[str, list[str]]:
    """rate_publish's objections, under the names the set-up's fields carry."""
    errors: dict[str, list[str]] = {}
    for field, messages in error.message_dict.items():
        name = "currency" if field == "currency" else rate_field(kind, field) if field in ("points", "amount") else None
        errors.setdefault(name or "__all__", []).extend(messages)
    return errors
