"""Forms check the shape of what was typed; the services (feedback/reports.py, ratings.py, health.py ...) enforce
the rules."""

from __future__ import annotations

from django import forms

from core.input_checks import CheckedInput
from feedback.ledger import is_own_work
from feedback.models import SEVERITIES, HarmCategory, ModelVersion, Report, ShowcaseUse
from feedback.reports import CREDITED_STATES, TRANSITIONS
from generation.registry import model_choices

SCORE_CHOICES = [(value, str(value)) for value in range(1, 6)]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def _score(label, help_text=""):
    return forms.TypedChoiceField(
        label=label, choices=SCORE_CHOICES, coerce=int, widget=forms.RadioSelect, help_text=help_text
    )


class RatingForm(CheckedInput, forms.Form):
    prompt_adherence = _score("Prompt adherence", "5: exactly what was asked")
    motion = _score("Motion", "5: natural, coherent movement")
    visual_quality = _score("Visual quality")
    artefacts = _score("Artefacts", "5: none visible")
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    tags = forms.CharField(required=False, max_length=400, help_text="Comma-separated, e.g. flicker, hands, text")


class ReportForm(CheckedInput, forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.ChoiceField(choices=SEVERITIES, initial="medium")
    credit_name = forms.CharField(
        max_length=80,
        required=False,
        label="Credit me as",
        help_text="The name release notes credit you by; leave empty to stay anonymous.",
    )
    attachments = MultipleFileField(help_text="Images, videos, PDFs or text logs; at most 5 files.")


class BugForm(ReportForm):
    steps = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=20000, label="Steps to reproduce")
    expected = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=20000)
    actual = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=20000)
    field_order = ["title", "steps", "expected", "actual", "severity", "credit_name", "attachments"]


class FindingForm(ReportForm):
    harm_category = forms.ModelChoiceField(queryset=HarmCategory.objects.none(), label="Category of harm")
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=20000)
    steps = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=20000, required=False, label="Settings and steps"
    )
    outcome = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=20000,
        help_text="What the model produced, and why it is harmful.",
    )
    field_order = ["title", "harm_category", "prompt", "steps", "outcome", "severity", "credit_name", "attachments"]

    def __init__(self, *args, programme, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["harm_category"].queryset = HarmCategory.objects.filter(programme=programme, active=True)


class CommentForm(CheckedInput, forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10000, label="Comment")


class TransitionForm(CheckedInput, forms.Form):
    to_state = forms.ChoiceField(label="New state")
    duplicate_of = forms.IntegerField(required=False, min_value=1, label="Original report # (for duplicates)")
    fixed_in = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(), required=False, label="Fixed in version (for fixed)"
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=10000)

    def __init__(self, *args, report: Report, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        label = {Report.State.CONFIRMED: "Accepted"} if report.is_finding else {}
        states = TRANSITIONS[report.state]
        if is_own_work(actor, report.reporter):  # another admin credits it (feedback/ledger.py)
            states = states - CREDITED_STATES
        self.fields["to_state"].choices = [
            (state, label.get(state, Report.State(state).label)) for state in sorted(states)
        ]
        self.fields["fixed_in"].queryset = ModelVersion.objects.filter(programme=report.programme)


class AssignForm(CheckedInput, forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="Nobody")

    def __init__(self, *args, admins, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = admins


class ReportFilterForm(CheckedInput, forms.Form):
    kind = forms.ChoiceField(choices=[("", "Any kind"), *Report.Kind.choices], required=False)
    state = forms.ChoiceField(
        choices=[("", "Open (not closed)"), ("all", "Any state"), *Report.State.choices], required=False
    )
    severity = forms.ChoiceField(choices=[("", "Any severity"), *SEVERITIES], required=False)
    model_key = forms.ChoiceField(choices=[("", "Any model"), *model_choices()], required=False)
    assignee = forms.ChoiceField(choices=[("", "Anyone"), ("me", "Me"), ("none", "Nobody")], required=False)
    q = forms.CharField(required=False, max_length=200, label="Search")


class PayoutForm(CheckedInput, forms.Form):
    currency = forms.RegexField(
        r"^[A-Za-z]{3}$", error_messages={"invalid": "Use a three-letter currency code, e.g. USD."}
    )
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive.")


class ShowcaseUseForm(CheckedInput, forms.Form):
    kind = forms.ChoiceField(choices=ShowcaseUse.Kind.choices)
    description = forms.CharField(max_length=300, help_text="Where and how, e.g. 'Screening at Annecy, 12 June'.")


class ModelVersionForm(CheckedInput, forms.Form):
    model_key = forms.ChoiceField(choices=model_choices(), label="Model")
    version = forms.CharField(max_length=40)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=20000)


class TargetsForm(CheckedInput, forms.Form):
    first_response_hours = forms.IntegerField(min_value=1, max_value=10000)
    triage_hours = forms.IntegerField(min_value=1, max_value=10000)
    credit_hours = forms.IntegerField(min_value=1, max_value=10000)
    payout_days = forms.IntegerField(min_value=1, max_value=10000)


class HarmCategoryForm(CheckedInput, forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(required=False, max_length=2000)


class CorrectionForm(CheckedInput, forms.Form):
    entry = forms.IntegerField(min_value=1, label="Entry #")
    points = forms.IntegerField()
    amount = forms.DecimalField(max_digits=12, decimal_places=2)
    reason = forms.CharField(max_length=300)
