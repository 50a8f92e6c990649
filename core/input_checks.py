"""One mixin puts the text and date rules (core/text.py, core/datetimes.py) on every field of a form,
a filter form or a serializer, including fields added later in ``__init__``, so that a new field cannot
forget them. Every form and serializer of the project mixes it in; tests/test_hostile_input.py walks them.

    class ReportForm(CheckedInput, forms.Form): ...
    class ReportSerializer(CheckedInput, serializers.ModelSerializer): ...
    class AuditEventFilter(django_filters.FilterSet):
        class Meta:
            form = CheckedForm

A text area (a form's Textarea, a serializer field styled ``textarea.html``, which DRF gives a model's
TextField) may hold tabs and line breaks; every other text field is one line."""

from __future__ import annotations

from django import forms
from rest_framework import serializers

from core.datetimes import date_check
from core.text import multi_line_text, single_line_text

# A serializer's text field that may hold several lines: ``serializers.CharField(style=TEXT_AREA)``.
TEXT_AREA = {"base_template": "textarea.html"}


def _form_field_validator(field: forms.Field):
    if isinstance(field, forms.CharField) and not isinstance(field.widget, forms.PasswordInput):
        return multi_line_text if isinstance(field.widget, forms.Textarea) else single_line_text
    if isinstance(field, forms.DateField | forms.DateTimeField):
        return date_check
    return None


def _serializer_field_validator(field: serializers.Field):
    if isinstance(field, serializers.CharField):
        multiline = field.style.get("base_template") == TEXT_AREA["base_template"]
        return multi_line_text if multiline else single_line_text
    if isinstance(field, serializers.DateField | serializers.DateTimeField):
        return date_check
    return None


def _attach(field, validator) -> None:
    if validator is not None and validator not in field.validators:
        field.validators.append(validator)


def field_checked(field) -> bool:
    """Whether ``field`` carries the rule its kind needs (True for kinds that need none)."""
    validator = _form_field_validator(field) if isinstance(field, forms.Field) else _serializer_field_validator(field)
    return validator is None or validator in field.validators


class CheckedInput:
    """Mix into a Form, a ModelForm or a DRF serializer, before the framework's class."""

    def full_clean(self):  # forms
        for field in self.fields.values():
            _attach(field, _form_field_validator(field))
        return super().full_clean()

    def get_fields(self):  # serializers
        fields = super().get_fields()
        for field in fields.values():
            if field.read_only:
                continue
            for part in (field, getattr(field, "child", None)):  # a ListField's or DictField's items
                if isinstance(part, serializers.Field) and not isinstance(part, serializers.BaseSerializer):
                    _attach(part, _serializer_field_validator(part))
        return fields


class CheckedForm(CheckedInput, forms.Form):
    """The form class for django-filter FilterSets (``Meta.form``)."""
