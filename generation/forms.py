from django import forms

from generation.registry import MODELS, model_choices
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


PRESET_NAME_REQUIRED = "Give the preset a name."


class PresetForm(forms.Form):
    """A preset's name and settings. The model's rules are checked here and again by the service;
    a person's grant is not (it is checked when a job is submitted)."""

    name = forms.CharField(max_length=80, strip=True, error_messages={"required": PRESET_NAME_REQUIRED})
    model_key = forms.ChoiceField(label="Model", choices=model_choices, initial=_DEFAULT.key)
    num_frames = forms.IntegerField(label="Frames", min_value=1, initial=_DEFAULT.default_frames)
    width = forms.IntegerField(min_value=1, initial=_DEFAULT.default_width)
    height = forms.IntegerField(min_value=1, initial=_DEFAULT.default_height)
    num_steps = forms.IntegerField(label="Steps", min_value=1, initial=_DEFAULT.default_steps)
    guidance_scale = forms.FloatField(label="Guidance", initial=_DEFAULT.default_guidance)
    negative_prompt = forms.CharField(
        required=False, max_length=PROMPT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=SEED_MAX, help_text="Leave empty for a random seed each time."
    )

    def clean(self):
        from generation.presets import preset_validate

        cleaned = super().clean()
        spec = MODELS.get(cleaned.get("model_key")) or _DEFAULT
        candidate = {"model_key": spec.key, "negative_prompt": "", "seed": None} | spec.default_settings()
        candidate |= {field: value for field, value in cleaned.items() if field not in self.errors}
        for field, message in preset_validate(candidate).items():
            if field not in self.errors:
                self.add_error(field, message)
        return cleaned

    def settings(self) -> dict:
        return {field: value for field, value in self.cleaned_data.items() if field != "name"}


class PresetRenameForm(forms.Form):
    name = forms.CharField(max_length=80, strip=True, error_messages={"required": PRESET_NAME_REQUIRED})
