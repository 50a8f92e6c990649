"""Services raise ValidationError; pages show it on the form that was sent."""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError


def form_errors_from(form, error: ValidationError) -> None:
    """Put a service's objection on the form, on the field it names where the form has one."""
    if hasattr(error, "error_dict"):
        for field, field_messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, field_messages)
    else:
        form.add_error(None, error.messages)


@dataclass(frozen=True)
class Applied:
    result: object


def form_apply(form, action: Callable[[dict], object]) -> Applied | None:
    """``action(form.cleaned_data)``, a service call, when ``form`` is valid: what it returned, as Applied. None
    where the form or the service said no; the form then carries why (the service's on the field it names)."""
    if not form.is_valid():
        return None
    try:
        return Applied(action(form.cleaned_data))
    except ValidationError as error:
        form_errors_from(form, error)
        return None
