"""Forms for the programme admin pages. They check the shape of what was typed; the services
(access/programmes.py, invitations.py, suspensions.py ...) enforce the rules, and the views put the
services' objections back on the forms."""

from __future__ import annotations

import csv
import io
import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from access import hooks
from access.audit import audit_actions, audit_person_filter, programme_audit_events
from access.invitations import INVITATION_DAYS
from access.models import AuditEvent, Grant, Role, Suspension
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
        help_text="Testers (artists, red teamers, collaborators) join through a cohort.",
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
        self.fields["cohort"].queryset = programme.cohorts.order_by("name")

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
        choices = hooks.model_choices()
        known = {key for key, _ in choices}
        # Keep keys the grant holds that the registry no longer lists, so saving does not drop them silently.
        choices += [(key, f"{key} (not in the registry)") for key in grant.model_keys if key not in known]
        self.fields["model_keys"].choices = choices

    @staticmethod
    def editable_fields() -> tuple[str, ...]:
        return (*Grant.LIMIT_FIELDS, "starts_at", "ends_at")

    def changes(self) -> dict:
        """The fields whose submitted value differs from the grant's (times compared to the minute,
        as the form shows them)."""
        changes = {}
        for field in self.editable_fields():
            new, old = self.cleaned_data[field], getattr(self.grant, field)
            if field == "model_keys":
                if set(new) != set(old or []):
                    changes[field] = new
            elif field in ("starts_at", "ends_at"):
                if (new and new.replace(second=0, microsecond=0)) != (old and old.replace(second=0, microsecond=0)):
                    changes[field] = new
            elif new != old:
                changes[field] = new
        return changes


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
