"""Accounts: made by an admin (invited people make their own through the invitation), and the operator's own
first account (``manage.py operator_create``), usable at once with no email step."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from access.audit import audit


def normalise_email(email: str) -> str:
    email = get_user_model().objects.normalize_email((email or "").strip()).lower()
    validate_email(email)
    return email


@transaction.atomic
def user_create(
    *, email: str, password: str, display_name: str = "", is_staff: bool = False, is_superuser: bool = False
):
    """Create an active account whose address counts as verified (it was given by an admin)."""
    User = get_user_model()
    try:
        email = normalise_email(email)
    except ValidationError:
        raise ValidationError({"email": f"{(email or '').strip()!r} is not a valid email address."}) from None
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": f"An account for {email} already exists."})
    if not password:
        raise ValidationError({"password": "The password is empty."})
    user = User(email=email, display_name=display_name.strip(), is_staff=is_staff, is_superuser=is_superuser)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


@transaction.atomic
def operator_create(*, email: str, password: str, display_name: str = ""):
    """The operator's staff account (staff and superuser), usable at once: its address counts as verified because
    the operator typed it, so signing in needs no email. Staff pages then ask for two-factor set-up first
    (access.policy.staff_two_factor), which is where the first sign-in lands."""
    user = user_create(email=email, password=password, display_name=display_name, is_staff=True, is_superuser=True)
    audit("access.operator_created", subject=user, target=user.email, reason="Created with manage.py operator_create.")
    return user
