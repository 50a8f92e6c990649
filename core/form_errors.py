"""Services raise ValidationError; pages show it on the form that was sent."""

from collections.abc import Callable

from django.core.exceptions import ValidationError


def form_errors_from(form, error: ValidationError) -> None:
    """Put a service's objection on the form, on the field it names where the form has one."""
    if hasattr(error, "error_dict"):
        for field, field_messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, field_messages)
    else:
        form.add_error(None, error.messages)


def form_apply(form, action: Callable[[dict], object]) -> bool:
    """True when ``form`` is valid and ``action(form.cleaned_data)``, a service call, went through; otherwise
    False, and the form carries why (a service's ValidationError on the field it names)."""
    if not form.is_valid():
        return False
    try:
        action(form.cleaned_data)
    except ValidationError as error:
        form_errors_from(form, error)
        return False
    return True
