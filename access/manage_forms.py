"""Forms for the programme admin pages. They check the shape of what was typed; the services
(access/programmes.py, invitations.py, suspensions.py ...) enforce the rules, and the views put the
services' objections back on the forms."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from access import hooks
from access.audit import audit_actions, audit_person_filter, programme_audit_events
from access.invitations import INVITATION_DAYS
from access.models import AuditEvent, Cohort, ContributionRate, Grant, Role, Suspension
from access.programme_setup import FirstRate, rate_field
from core.input_checks import CheckedForm, CheckedInput

REASON_REQUIRED = "Say why: it is kept in the audit trail."
MAX_UPLOAD_BYTES = 1024 * 1024
MAX_ADDRESSES = 1000
INT_MAX = 2_147_483_647  # the most a PositiveIntegerField holds on every database Django supports

# Something that looks like an address inside a cell ("Ann <ann@example.org>", "ann@example.org;").
ADDRESS_LIKE = re.compile(r"[^\s<>()\[\],;:\"'@]+@[^\s<>()\[\],;:\"'@]+")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def _reason_field(label="Reason", help_text=""):
    return forms.CharField(
        label=label,
        max_length=2000,
        strip=True,
        help_text=help_text,
        error_messages={"required": REASON_REQUIRED},
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _until_field(label="Until"):
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=DateTimeLocalInput(),
        help_text=f"Optional ({timezone.get_current_timezone_name()}); leave empty to keep it until lifted.",
    )


class ReasonForm(CheckedInput, forms.Form):
    """Lifting a suspension, resuming a programme: a reason and nothing else."""

    reason = _reason_field()


class PauseForm(CheckedInput, forms.Form):
    reason = _reason_field(help_text="Everyone in the programme but its admins is told this.")
    ends_at = _until_field()


class SuspendForm(CheckedInput, forms.Form):
    kind = forms.ChoiceField(
        choices=[(Suspension.Kind.SUSPENSION, "Suspend"), (Suspension.Kind.REVOCATION, "Revoke (no end time)")],
        initial=Suspension.Kind.SUSPENSION,
    )
    reason = _reason_field(help_text="The people affected are told this.")
    ends_at = _until_field()

    def __init__(self, *args, actor=None, subject=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor, self.subject = actor, subject

    def clean(self):
        cleaned = super().clean()
        if self.subject is not None and self.subject == self.actor:
            raise ValidationError("You cannot suspend yourself here; ask another admin of the programme.")
        return cleaned


def addresses_from_text(text: str) -> list[str]:
    """Addresses pasted one per line or separated by commas or semicolons. An entry with no address in it
    is kept as it is, so that the invitation service reports it as skipped rather than it vanishing."""
    found = []
    for part in re.split(r"[\n,;]+", text or ""):
        if part.strip():
            found.extend(ADDRESS_LIKE.findall(part) or [part.strip()])
    return found


def addresses_from_csv(text: str) -> list[str]:
    """Every address-like string in every cell, in the order they appear."""
    found = []
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            found.extend(ADDRESS_LIKE.findall(cell))
    return found


class InvitationForm(CheckedInput, forms.Form):
    cohort = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="(none — for reviewers and admins)",
        help_text="Testers (artists, red teamers, collaborators) join through a cohort; reviewers and admins join "
        "the programme itself, whatever is chosen here.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ARTIST)
    addresses = forms.CharField(
        label="Addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "ann@example.org\nbo@example.org, cy@example.org"}),
        help_text="One per line, or separated by commas.",
    )
    csv_file = forms.FileField(
        label="Or a CSV file",
        required=False,
        help_text="Any cell that looks like an address is invited. Text/CSV, at most 1 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv,text/plain"}),
    )
    days = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=90, initial=INVITATION_DAYS)

    def __init__(self, *args, programme, **kwargs):
        super().__init__(*args, **kwargs)
        cohorts = programme.cohorts.order_by("name")
        self.fields["cohort"].queryset = cohorts
        # The blank form's choices must pass its own checks: artists (the default role) join through a cohort,
        # so the first cohort is chosen; a programme with none yet can only invite reviewers and admins.
        first = cohorts.first()
        if first is not None:
            self.initial.setdefault("cohort", first.pk)
        else:
            self.initial.setdefault("role", Role.REVIEWER)

    def clean_csv_file(self):
        upload = self.cleaned_data.get("csv_file")
        if not upload:
            return []
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                f"{upload.name} is {filesizeformat(upload.size)}; upload a file of at most 1 MB, "
                "or split the list into several files."
            )
        # Judged by its content, never by its name or the type the browser declared (browsers on
        # Windows send .csv files as application/vnd.ms-excel; anything can be named list.csv).
        raw = upload.read()
        try:
            text = raw.decode("utf-8-sig")
            if "\x00" in text:
                raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
            return addresses_from_csv(text)
        except UnicodeDecodeError as error:
            raise ValidationError(
                f"{upload.name} is not a CSV file: it is not UTF-8 text. Save it as CSV (UTF-8) and upload it again."
            ) from error
        except csv.Error as error:
            raise ValidationError(f"{upload.name} could not be read as CSV: {error}.") from error

    def clean(self):
        cleaned = super().clean()
        if "csv_file" in self.errors:
            return cleaned
        emails = addresses_from_text(cleaned.get("addresses", "")) + cleaned.get("csv_file", [])
        if not emails:
            raise ValidationError("Paste at least one address, or upload a CSV file with addresses in it.")
        if len(emails) > MAX_ADDRESSES:
            raise ValidationError(f"That is {len(emails)} addresses; invite at most {MAX_ADDRESSES} at once.")
        cleaned["emails"] = emails
        if cleaned.get("role") in (Role.REVIEWER, Role.ADMIN):
            cleaned["cohort"] = None  # staff roles are held in the programme, not in a cohort
        return cleaned


class ProgrammeModelsForm(CheckedInput, forms.Form):
    model_keys = forms.MultipleChoiceField(
        label="Models offered",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick none to offer every model. Each person's grant can narrow this further.",
    )

    def __init__(self, *args, programme, **kwargs):
        super().__init__(*args, initial={"model_keys": programme.model_keys}, **kwargs)
        self.fields["model_keys"].choices = hooks.model_choices()


def _keep_held(field: forms.ChoiceField, held, note: str) -> None:
    """Keep the model keys a record holds that ``field`` no longer lists, so saving does not drop them silently."""
    known = {key for key, _ in field.choices}
    field.choices = [*field.choices, *((key, f"{key} ({note})") for key in held if key not in known)]


def _changes(cleaned: dict, record, names) -> dict:
    """{name: submitted value} for those of ``names`` whose submitted value differs from ``record``'s: model keys
    compared as sets, times to the minute (as the forms show them)."""

    def comparable(name, value):
        if name == "model_keys":
            return set(value or [])
        if isinstance(value, datetime):
            return value.replace(second=0, microsecond=0)
        return value

    return {
        name: cleaned[name]
        for name in names
        if comparable(name, cleaned[name]) != comparable(name, getattr(record, name))
    }


class GrantForm(CheckedInput, forms.Form):
    """A grant's limits and dates; ``changes()`` says which of them differ from the grant's."""

    model_keys = forms.MultipleChoiceField(
        label="Models",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick none to allow every model.",
    )
    max_frames = forms.IntegerField(min_value=0, max_value=INT_MAX)
    max_width = forms.IntegerField(min_value=0, max_value=INT_MAX)
    max_height = forms.IntegerField(min_value=0, max_value=INT_MAX)
    max_steps = forms.IntegerField(min_value=0, max_value=INT_MAX)
    downloads_allowed = forms.BooleanField(required=False)
    gpu_seconds_per_day = forms.IntegerField(label="GPU seconds per day", min_value=0, max_value=INT_MAX)
    gpu_seconds_total = forms.IntegerField(label="GPU seconds in total", min_value=0, max_value=INT_MAX)
    max_queued_jobs = forms.IntegerField(
        label="Jobs at once", min_value=0, max_value=INT_MAX, help_text="Jobs queued or running at once."
    )
    starts_at = forms.DateTimeField(label="Starts", widget=DateTimeLocalInput())
    ends_at = forms.DateTimeField(
        label="Ends", required=False, widget=DateTimeLocalInput(), help_text="Leave empty for no end date."
    )
    reason = _reason_field()

    def __init__(self, *args, grant: Grant, **kwargs):
        initial = {field: getattr(grant, field) for field in self.editable_fields()}
        super().__init__(*args, initial=initial, **kwargs)
        self.grant = grant
        self.fields["model_keys"].choices = hooks.model_choices()
        _keep_held(self.fields["model_keys"], grant.model_keys, "not in the registry")

    @staticmethod
    def editable_fields() -> tuple[str, ...]:
        return (*Grant.LIMIT_FIELDS, "starts_at", "ends_at")

    def changes(self) -> dict:
        """The fields whose submitted value differs from the grant's."""
        return _changes(self.cleaned_data, self.grant, self.editable_fields())


def _models_field(label="Models", help_text="Tick none to allow every model."):
    return forms.MultipleChoiceField(
        label=label, required=False, widget=forms.CheckboxSelectMultiple, help_text=help_text
    )


def _slug_field():
    return forms.CharField(
        max_length=60,
        required=False,
        help_text="Used in addresses (/manage/<slug>/). Leave empty to make one from the name.",
    )


class ProgrammeSetUpForm(CheckedInput, forms.Form):
    """A new programme from the operator's console: what it offers, who runs it, and what work earns there.
    The rate fields (``rate_<kind>_points`` and ``rate_<kind>_amount`` per contribution kind) are added here;
    a kind left with both empty gets no rate yet."""

    name = forms.CharField(max_length=120)
    slug = _slug_field()
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    model_keys = _models_field("Models offered", "Tick none to offer every model in the registry.")
    admin_email = forms.EmailField(
        label="First admin's email",
        help_text="An account with this address becomes the programme's admin at once; any other address is sent "
        "an invitation to be its admin.",
    )
    currency = forms.CharField(
        max_length=3, initial="USD", help_text="ISO 4217 code (USD, EUR, GBP ...) of every rate below."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_keys"].choices = hooks.model_choices()
        for kind, label in ContributionRate.Kind.choices:
            self.fields[rate_field(kind, "points")] = forms.IntegerField(
                label=f"{label}: points",
                required=False,
                min_value=0,
                max_value=INT_MAX,
                widget=forms.NumberInput(attrs={"aria-label": f"{label}: points"}),
            )
            self.fields[rate_field(kind, "amount")] = forms.DecimalField(
                label=f"{label}: amount",
                required=False,
                min_value=0,
                max_digits=10,
                decimal_places=2,
                widget=forms.NumberInput(attrs={"aria-label": f"{label}: amount", "step": "0.01"}),
            )

    def main_fields(self):
        return [self[name] for name in self.fields if not name.startswith("rate_")]

    def rate_rows(self):
        """(label, points field, amount field) per contribution kind, for the page's table."""
        return [
            (label, self[rate_field(kind, "points")], self[rate_field(kind, "amount")])
            for kind, label in ContributionRate.Kind.choices
        ]

    def clean_currency(self):
        currency = self.cleaned_data["currency"].strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ValidationError("Use a three-letter currency code, e.g. USD.")
        return currency

    def clean(self):
        cleaned = super().clean()
        rates = []
        for kind in ContributionRate.Kind.values:
            points, amount = cleaned.get(rate_field(kind, "points")), cleaned.get(rate_field(kind, "amount"))
            if points is not None or amount is not None:
                rates.append(FirstRate(kind=kind, points=points or 0, amount=amount or 0))
        cleaned["rates"] = rates
        return cleaned


def _limit_initial() -> dict:
    """A new cohort's grant starts from the model's defaults."""
    return {name: Cohort._meta.get_field(name).get_default() for name in (*Cohort.LIMIT_FIELDS, "grant_days")}


class CohortLimitsForm(CheckedInput, forms.Form):
    """A cohort's default grant: what each person who joins it is granted."""

    model_keys = _models_field()
    max_frames = forms.IntegerField(min_value=1, max_value=INT_MAX)
    max_width = forms.IntegerField(min_value=1, max_value=INT_MAX)
    max_height = forms.IntegerField(min_value=1, max_value=INT_MAX)
    max_steps = forms.IntegerField(min_value=1, max_value=INT_MAX)
    downloads_allowed = forms.BooleanField(required=False)
    gpu_seconds_per_day = forms.IntegerField(label="GPU seconds per day", min_value=0, max_value=INT_MAX)
    gpu_seconds_total = forms.IntegerField(label="GPU seconds in total", min_value=0, max_value=INT_MAX)
    max_queued_jobs = forms.IntegerField(
        label="Jobs at once", min_value=0, max_value=INT_MAX, help_text="Jobs queued or running at once."
    )
    grant_days = forms.IntegerField(
        label="Grant length (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="How long new members' grants last; empty for no end date.",
    )

    LIMIT_NAMES = (*Cohort.LIMIT_FIELDS, "grant_days")

    def __init__(self, *args, programme, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(key, label) for key, label in hooks.model_choices() if programme.offers_model(key)]
        self.fields["model_keys"].choices = choices

    def limits(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.LIMIT_NAMES}


class CohortForm(CohortLimitsForm):
    name = forms.CharField(max_length=120)
    slug = _slug_field()

    field_order = ["name", "slug"]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", _limit_initial())
        super().__init__(*args, **kwargs)


class CohortGrantForm(CohortLimitsForm):
    """Editing a cohort's default grant; ``changes()`` says which values differ from the cohort's."""

    apply_to_members = forms.BooleanField(
        label="Apply to current members too",
        required=False,
        help_text="Also bring every current member's grant to these limits (each change is audited). "
        "Unticked, only people who join from now on get them.",
    )
    reason = _reason_field()

    def __init__(self, *args, cohort: Cohort, **kwargs):
        initial = {name: getattr(cohort, name) for name in self.LIMIT_NAMES}
        super().__init__(*args, programme=cohort.programme, initial=initial, **kwargs)
        self.cohort = cohort
        _keep_held(self.fields["model_keys"], cohort.model_keys, "not offered now")

    def changes(self) -> dict:
        return _changes(self.cleaned_data, self.cohort, self.LIMIT_NAMES)


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=[], empty_label="(any)")
    person = django_filters.CharFilter(method="filter_person", label="Person (email contains)")
    date_from = django_filters.DateFilter(
        field_name="at", lookup_expr="date__gte", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = django_filters.DateFilter(
        field_name="at", lookup_expr="date__lte", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
        form = CheckedForm

    def __init__(self, data=None, *, programme, **kwargs):
        super().__init__(data, queryset=programme_audit_events(programme), **kwargs)
        self.filters["action"].extra["choices"] = [(action, action) for action in audit_actions(programme)]

    def filter_person(self, queryset, name, value):
        return queryset.filter(audit_person_filter(value.strip())) if value.strip() else queryset
