"""The Django admin's edit forms follow the same text and date rules as every other form (core/input_checks.py):
staff typing into a raw record cannot store a control character, a direction override or invisible text."""

from __future__ import annotations

from django.contrib import admin

from core.input_checks import CheckedInput


class CheckedAdmin:
    """Mix into a ModelAdmin before Django's class: the form it builds (its own or the generated one) carries
    CheckedInput."""

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return form if issubclass(form, CheckedInput) else type(form.__name__, (CheckedInput, form), {})


class CheckedModelAdmin(CheckedAdmin, admin.ModelAdmin):
    pass
