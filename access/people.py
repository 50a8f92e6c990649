"""Accounts: made by an admin (invited people make their own through the invitation)."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction


def normalise_email(email: str) -> str:
    email = get_user_model().objects.normalize_email((email or "").strip()).lower()
    validate_email(email)
    return email


@transaction.atomic
def user_create(*, email: str, password: str, display_name: str = "", is_staff: bool = False):
    """Create an active account whose address counts as verified (it was given by an admin)."""
    User = get_user_model()
    email = normalise_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": f"An account for {email} already exists."})
    user = User(email=email, display_name=display_name.strip(), is_staff=is_staff)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user
