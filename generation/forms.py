from django import forms

from generation.models import RenderJob
from generation.registry import MODELS, model_choices
from generation.selectors import BadCursor, cursor_decode
from generation.services import PROMPT_MAX_LENGTH, SEED_MAX, job_validate

_DEFAULT = next(iter(MODELS.values()))


class JobForm(forms.Form):
    def __init__(self, *args, grant=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.grant = grant

    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": PROMPT_MAX_LENGTH}),
        strip=True,
        help_text=f"What should happen in the clip (up to {PROMPT_MAX_LENGTH} characters).",
    )
    negative_prompt = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="What the clip should avoid."
    )
    model_key = forms.ChoiceField(label="Model", choices=model_choices, initial=_DEFAULT.key)
    num_frames = forms.IntegerField(
        label="Frames",
        min_value=1,
        initial=_DEFAULT.default_frames,
        help_text=f"{_DEFAULT.label}: {_DEFAULT.frame_counts_hint()}.",
    )
    width = forms.IntegerField(min_value=1, initial=_DEFAULT.default_width)
    height = forms.IntegerField(min_value=1, initial=_DEFAULT.default_height)
    num_steps = forms.IntegerField(label="Steps", min_value=1, initial=_DEFAULT.default_steps)
    guidance_scale = forms.FloatField(label="Guidance", initial=_DEFAULT.default_guidance)
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=SEED_MAX, help_text="Leave empty for a random seed."
    )
    variations = forms.TypedChoiceField(
        choices=[(1, "1 clip"), (2, "2 clips"), (4, "4 clips")], coerce=int, initial=1, required=False, empty_value=1,
        help_text="Each variation gets its own seed and is charged as a separate job.",
    )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        # Check the model's rules on every field that parsed, so that all problems show at once;
        # fields that failed to parse stand in with valid values and keep their own error.
        spec = MODELS.get(cleaned.get("model_key")) or _DEFAULT
        candidate = {"prompt": "?", "negative_prompt": "", "seed": None, "model_key": spec.key}
        candidate |= spec.default_settings()
        candidate |= {
            field: value for field, value in cleaned.items() if field not in self.errors and field != "variations"
        }
        for field, message in job_validate(**candidate, grant=self.grant).items():
            if field not in self.errors:
                self.add_error(field, message)
        return cleaned


class GalleryFilterForm(forms.Form):
    """The gallery's filters and search, read from the query string."""

    q = forms.CharField(label="Search", required=False, max_length=200, strip=True)
    state = forms.ChoiceField(choices=[("", "Any state"), *RenderJob.State.choices], required=False)
    model = forms.ChoiceField(choices=lambda: [("", "Any model"), *model_choices()], required=False)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    cursor = forms.CharField(required=False, widget=forms.HiddenInput, max_length=500)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        if cleaned.get("cursor"):
            try:
                cursor_decode(cleaned["cursor"])
            except BadCursor as error:
                self.add_error(None, str(error))
        return cleaned

    def filters(self) -> dict:
        data = self.cleaned_data
        return {
            "state": data["state"], "model_key": data["model"], "since": data["since"], "until": data["until"],
            "q": data["q"],
        }  # fmt: skip


class QueueActionForm(forms.Form):
    """What staff do to a job on the queue page."""

    DONE = {
        "raise": "priority raised", "lower": "priority lowered", "hold": "held", "release": "released",
        "cancel": "cancelled",
    }  # fmt: skip
    action = forms.ChoiceField(choices=[(action, action.capitalize()) for action in DONE])
