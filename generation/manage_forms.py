"""Forms for the prompt policy and programme preset pages under /manage/<slug>/. They check the
shape of what was typed; generation/prompt_policy.py and generation/presets.py enforce the rules."""

from __future__ import annotations

import django_filters
from django import forms
from django.contrib.auth import get_user_model

from core.input_checks import CheckedForm, CheckedInput
from generation.models import PromptRefusal, PromptRule
from generation.prompt_policy import REASON_MAX_LENGTH
from generation.render_settings import PROMPT_MAX_LENGTH


class PromptRuleForm(CheckedInput, forms.Form):
    kind = forms.ChoiceField(choices=PromptRule.Kind.choices, initial=PromptRule.Kind.TERM)
    text = forms.CharField(
        label="Word, phrase or pattern",
        max_length=300,
        strip=True,
        help_text="A phrase matches whole words, whatever the case, accents, spacing or lookalike letters. "
        "A pattern is a regular expression, matched against the prompt in lower case with accents removed.",
    )
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        strip=True,
        help_text="Shown to the person whose prompt it refuses.",
        widget=forms.TextInput(),
    )
    enabled = forms.BooleanField(required=False, initial=True)


class PromptTestForm(CheckedInput, forms.Form):
    prompt = forms.CharField(max_length=PROMPT_MAX_LENGTH, strip=True, widget=forms.Textarea(attrs={"rows": 2}))
    negative_prompt = forms.CharField(
        required=False, max_length=PROMPT_MAX_LENGTH, strip=True, widget=forms.Textarea(attrs={"rows": 1})
    )


class RefusalFilter(django_filters.FilterSet):
    rule = django_filters.ModelChoiceFilter(queryset=PromptRule.objects.none(), empty_label="(any)")
    user = django_filters.ModelChoiceFilter(
        label="Person", queryset=get_user_model().objects.none(), empty_label="(anyone)"
    )
    via = django_filters.ChoiceFilter(choices=PromptRefusal.Via.choices, empty_label="(any)")

    class Meta:
        model = PromptRefusal
        fields: list[str] = []
        form = CheckedForm

    def __init__(self, data=None, *, queryset, programme, **kwargs):
        super().__init__(data, queryset=queryset, **kwargs)
        self.filters["rule"].queryset = PromptRule.objects.filter(programme=programme)
        self.filters["user"].queryset = get_user_model().objects.filter(prompt_refusals__programme=programme).distinct()
