"""Forms check the shape of what is sent; the services (competition/calls.py, entries.py, reviews.py,
results.py) enforce the rules."""

from __future__ import annotations

from django import forms

from access.models import TESTER_ROLES, Cohort, Role
from competition.models import Appeal, Call
from core.input_checks import CheckedInput

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
NOTICE_HELP = "Required once submissions are open: what changes and why. Every entrant is sent it."


class CallForm(CheckedInput, forms.Form):
    title = forms.CharField(max_length=160)
    brief = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    rules = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    eligible_roles = forms.MultipleChoiceField(
        choices=[(str(role), Role(role).label) for role in TESTER_ROLES], widget=forms.CheckboxSelectMultiple
    )
    eligible_cohorts = forms.ModelMultipleChoiceField(
        queryset=Cohort.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every cohort.",
    )
    submissions_open_at = forms.DateTimeField(widget=DATETIME)
    submissions_close_at = forms.DateTimeField(widget=DATETIME)
    judging_ends_at = forms.DateTimeField(widget=DATETIME)
    results_at = forms.DateTimeField(widget=DATETIME, label="Results planned for")
    prizes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    winners_count = forms.IntegerField(min_value=1, max_value=100, initial=3)
    reviewers_per_entry = forms.IntegerField(min_value=1, max_value=20, initial=3, label="Reviewers per entry (k)")
    watch_percent = forms.IntegerField(
        min_value=1, max_value=100, initial=90, label="Share to watch before scoring (%)"
    )
    exclude_same_cohort = forms.BooleanField(
        required=False, initial=True, label="Exclude reviewers in the entrant's cohort"
    )
    appeal_days = forms.IntegerField(min_value=0, max_value=90, initial=7)
    max_duration_seconds = forms.IntegerField(min_value=1, max_value=3600, initial=600, label="Longest film (s)")
    max_megabytes = forms.IntegerField(min_value=1, max_value=4000, initial=500, label="Largest file (MB)")
    notice = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text=NOTICE_HELP)

    def __init__(self, *args, programme, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["eligible_cohorts"].queryset = Cohort.objects.filter(programme=programme)

    @staticmethod
    def initial_for(call: Call) -> dict:
        names = [name for name in CallForm.base_fields if name not in ("watch_percent", "notice", "eligible_cohorts")]
        initial = {name: getattr(call, name) for name in names}
        return initial | {
            "watch_percent": round(call.watch_share * 100),
            "eligible_cohorts": call.eligible_cohorts.all(),
        }

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["watch_share"] = data.pop("watch_percent") / 100
        data.pop("notice")
        data.pop("eligible_cohorts")
        return data


class CriterionForm(CheckedInput, forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    weight = forms.FloatField(min_value=0.01, initial=1)
    scale_max = forms.IntegerField(min_value=2, max_value=10, initial=5, label="Scale (1 to …)")
    levels = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), help_text="One line per level, from 1 up.")
    notice = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text=NOTICE_HELP)

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["levels"] = [line.strip() for line in data["levels"].splitlines() if line.strip()]
        return data


class NoticeForm(CheckedInput, forms.Form):
    notice = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text=NOTICE_HELP)


class SubmissionForm(CheckedInput, forms.Form):
    title = forms.CharField(max_length=160)
    logline = forms.CharField(max_length=400, widget=forms.Textarea(attrs={"rows": 2}))
    credits = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Who made the film. Reviewers never see this.",
    )
    jobs = forms.CharField(
        label="Platform jobs used",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The 7-character codes of your clips in the film (on each clip's page and in its corner).",
    )
    file = forms.FileField(
        label="Film (MP4, H.264)",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "video/mp4"}),
        help_text="Required for a new entry; choose a file only to replace the film.",
    )


class ConflictForm(CheckedInput, forms.Form):
    email = forms.EmailField(label="Email address of the person", help_text="Their films will not be assigned to you.")


class ReviewForm(CheckedInput, forms.Form):
    """A score (radio 1..n) and a reason for each criterion of the call's rubric."""

    def __init__(self, *args, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = list(criteria)
        for criterion in self.criteria:
            self.fields[f"score_{criterion.pk}"] = forms.TypedChoiceField(
                label=criterion.name,
                choices=[(n, str(n)) for n in range(1, criterion.scale_max + 1)],
                coerce=int,
                required=False,
                empty_value=None,
                widget=forms.RadioSelect,
            )
            self.fields[f"reason_{criterion.pk}"] = forms.CharField(
                label=f"Why, for {criterion.name}",
                max_length=600,
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def rows(self):
        return [
            (criterion, self[f"score_{criterion.pk}"], self[f"reason_{criterion.pk}"]) for criterion in self.criteria
        ]

    def scores(self) -> dict:
        data = self.cleaned_data
        return {c.pk: (data.get(f"score_{c.pk}"), data.get(f"reason_{c.pk}", "")) for c in self.criteria}


class RecuseForm(CheckedInput, forms.Form):
    reason = forms.CharField(max_length=300, label="Why you step away from this film")


class PublishForm(CheckedInput, forms.Form):
    allow_unfinished = forms.BooleanField(required=False, label="Publish without the unfinished reviews")


class AppealForm(CheckedInput, forms.Form):
    text = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 4}), label="Your appeal")


class AppealAnswerForm(CheckedInput, forms.Form):
    outcome = forms.ChoiceField(choices=Appeal.Outcome.choices)
    answer = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
