from django import forms
from django.urls import reverse

from core.input_checks import CheckedInput
from generation import composer, quota, trace
from generation.gallery import BadCursor, cursor_decode
from generation.inputs import IMAGE_MAX_BYTES, IMAGE_MAX_SIDE, image_judge
from generation.models import RenderJob
from generation.registry import MODE_INPUTS, MODE_LABELS, MODELS, TEXT_TO_VIDEO, ModelSpec, model_choices
from generation.render_settings import PROMPT_MAX_LENGTH, SEED_MAX, job_validate
from generation.submission import VARIATION_COUNTS

_DEFAULT = next(iter(MODELS.values()))


def _duration(frames: int, fps: int) -> str:
    return "1 frame (a still)" if frames == 1 else f"{frames / fps:.1f} s ({frames} frames)"


KEPT_ON_MODEL_SWITCH = (
    "prompt",
    "negative_prompt",
    "model_key",
    "seed",
    "remix_seed",
    "keep_seed",
    "variations",
    "mode",
    "source",
    "strength",
    "kept_image",
    "kept_last_image",
)
# The form's fields that only say how to fill in others.
REMIX_FIELDS = ("remix_seed", "keep_seed", "kept_image", "kept_last_image")
# An image already stored (the clip a remix starts from had it), used where no new file is chosen.
KEPT_IMAGES = {"image": "kept_image", "last_image": "kept_last_image"}
# The settings folded under the generate page's "Advanced": the raw size and length (the chips fill them in),
# and the rest, which it opens for when one was changed from the model's default.
RAW_SIZE_FIELDS = ("num_frames", "width", "height")
ADVANCED_FIELDS = ("num_steps", "guidance_scale", "seed", "negative_prompt")


class JobForm(CheckedInput, forms.Form):
    """The studio's settings. Each field offers only what the chosen model renders and the person's
    grant allows; choosing another model redraws the form with that model's choices."""

    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": PROMPT_MAX_LENGTH}),
        strip=True,
        help_text=f"What should happen in the clip (up to {PROMPT_MAX_LENGTH} characters).",
    )
    negative_prompt = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="What the clip should avoid."
    )
    model_key = forms.ChoiceField(label="Model")
    mode = forms.TypedChoiceField(
        widget=forms.RadioSelect,
        initial=TEXT_TO_VIDEO,
        required=False,
        empty_value=TEXT_TO_VIDEO,
        help_text="What the clip starts from (the model's modes).",
    )
    image = forms.FileField(
        required=False,
        label="Start image",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
        help_text=f"Image to video and first-and-last frame: PNG, JPEG or WebP, up to {IMAGE_MAX_SIDE} px a side.",
    )
    last_image = forms.FileField(
        required=False,
        label="Last frame",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
        help_text="First and last frame: the image the clip ends on.",
    )
    source = forms.UUIDField(required=False, widget=forms.HiddenInput)
    strength = forms.FloatField(
        required=False,
        min_value=0.05,
        max_value=1.0,
        widget=forms.NumberInput(attrs={"step": 0.05}),
        help_text="Restyle: 0.05 stays close to the source clip, 1 makes a new one.",
    )
    num_frames = forms.IntegerField(label="Duration", min_value=1, widget=forms.Select)
    width = forms.IntegerField(min_value=1)
    height = forms.IntegerField(min_value=1)
    num_steps = forms.IntegerField(label="Steps", min_value=1)
    guidance_scale = forms.FloatField(label="Guidance")
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=SEED_MAX, help_text="Leave empty for a random seed (shown afterwards)."
    )
    # A remix starts with a new seed; the clip's own seed travels here, kept only if asked.
    remix_seed = forms.IntegerField(required=False, min_value=0, max_value=SEED_MAX, widget=forms.HiddenInput)
    keep_seed = forms.BooleanField(required=False, label="Keep the seed")
    # A remix of a clip made from images keeps them (their ids; submission checks they are the person's own).
    kept_image = forms.UUIDField(required=False, widget=forms.HiddenInput)
    kept_last_image = forms.UUIDField(required=False, widget=forms.HiddenInput)
    variations = forms.TypedChoiceField(
        choices=[(count, f"{count} clip{'' if count == 1 else 's'}") for count in VARIATION_COUNTS],
        coerce=int,
        initial=1,
        required=False,
        empty_value=1,
        help_text="Each variation gets its own seed and is charged as a separate job.",
    )

    def __init__(self, *args, grant=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.grant = grant
        allowed = [spec for spec in MODELS.values() if grant is None or grant.allows_model(spec.key)]
        self.fields["model_key"].choices = [(spec.key, spec.label) for spec in allowed or MODELS.values()]
        # Choosing another model redraws the form with its choices, keeping the prompt and seed.
        self.fields["model_key"].widget.attrs.update(
            {
                "hx-get": reverse("generation:job_create"),
                "hx-target": "#job-form",
                "hx-select": "#job-form",
                "hx-swap": "outerHTML",
                "hx-include": "#job-form",
            }
        )
        self.spec = self._chosen_model(allowed)
        self._offer(self.spec)
        self.fields["mode"].choices = [(key, MODE_LABELS[key]) for key in self.spec.mode_keys()]
        self._offer_variations()
        if self.remixing and not self.is_bound:
            self.fields["prompt"].widget.attrs["autofocus"] = True
        for name, kept in KEPT_IMAGES.items():
            if self[kept].value() not in (None, ""):
                self.fields[name].help_text = "Keeps the clip's own image; choose a file to replace it."

    def aspect_chips(self) -> list[dict]:
        """The aspect-ratio chips for the chosen model within the grant, the one matching the size now pressed."""
        width, height = self["width"].value(), self["height"].value()
        return [
            {"chip": chip, "pressed": (str(chip.width), str(chip.height)) == (str(width), str(height))}
            for chip in composer.aspect_chips(self.spec, self.grant)
        ]

    def duration_chips(self) -> list[dict]:
        frames = str(self["num_frames"].value())
        return [
            {"chip": chip, "pressed": str(chip.frames) == frames}
            for chip in composer.duration_chips(self.spec, self.grant)
        ]

    def size_summary(self) -> str:
        """The size and length the form holds now, in words, beside the chips."""
        frames, width, height = (self[name].value() for name in RAW_SIZE_FIELDS)
        try:
            seconds = f"{int(frames) / self.spec.fps:.1f} s"
        except (TypeError, ValueError):
            seconds = "?"
        return f"{width}×{height} px, {seconds} ({frames} frames at {self.spec.fps} fps)"

    def advanced_open(self) -> bool:
        """Whether "Advanced" starts open: one of its fields has an error, or holds other than the model's
        default (a preset or remix that changed the steps, a seed typed in), so nothing set is out of sight."""
        if self.is_bound and set(self.errors) & {*RAW_SIZE_FIELDS, *ADVANCED_FIELDS}:
            return True
        for name in ADVANCED_FIELDS:
            value, default = self[name].value(), self.fields[name].initial
            try:
                value = self.fields[name].to_python(value)
            except forms.ValidationError:
                return True
            if value not in (None, "") and value != default:
                return True
        return False

    @property
    def remixing(self) -> bool:
        return self["remix_seed"].value() not in (None, "")

    def _offer_variations(self) -> None:
        """Only as many variations as the grant lets queue now; a larger count still validates to its
        own clear refusal (clean_variations), since jobs may finish or start between drawing and posting."""
        self.queue_limit, self.queue_active, room = None, 0, max(VARIATION_COUNTS)
        if self.grant is not None:
            self.queue_limit = self.grant.max_queued_jobs
            self.queue_active = quota.grant_usage(self.grant)["active_jobs"]
            room = max(1, self.queue_limit - self.queue_active)
        field = self.fields["variations"]
        field.widget.choices = [(count, label) for count, label in field.choices if count <= room]

    def mode_input_rows(self):
        """(field, modes) for the mode inputs the page shows (see mode_rows)."""
        rows = self.mode_rows()
        return [(field, modes) for field, modes in rows if field.name in MODE_INPUTS and not field.is_hidden]

    def advanced_fields(self):
        """The fields under "Advanced", the negative prompt first."""
        return [self[name] for name in ("negative_prompt", *RAW_SIZE_FIELDS, "num_steps", "guidance_scale", "seed")]

    def mode_rows(self):
        """(field, the chosen model's modes that take it as a space-separated list, or None for every mode),
        for the page's script to show only the chosen mode's inputs."""
        takers = {name: [mode.key for mode in self.spec.modes if name in mode.inputs] for name in MODE_INPUTS}
        for field in self:
            yield field, " ".join(takers[field.name]) if field.name in MODE_INPUTS else None

    def _chosen_model(self, allowed: list[ModelSpec]) -> ModelSpec:
        source = self.data if self.is_bound else self.initial
        chosen = MODELS.get(source.get("model_key") or "")
        return chosen or (allowed[0] if allowed else _DEFAULT)

    def _offer(self, spec: ModelSpec) -> None:
        """Choices, bounds and hints for ``spec`` within the grant; defaults for a fresh form."""
        limits = spec.limits_within(self.grant)
        frames, width, height, steps = (limits[name] for name in ("max_frames", "max_width", "max_height", "max_steps"))
        counts = range(1, frames + 1, spec.frame_step)
        self.fields["num_frames"].widget.choices = [(n, _duration(n, spec.fps)) for n in counts]
        self.fields["num_frames"].help_text = f"{spec.label}: {spec.frame_counts_hint()} frames at {spec.fps} fps."
        for name, largest in (("width", width), ("height", height)):
            self.fields[name].widget.attrs.update(min=spec.min_size, max=largest, step=spec.size_multiple)
            self.fields[name].help_text = f"Multiples of {spec.size_multiple}, {spec.min_size} to {largest} pixels."
        self.fields["num_steps"].widget.attrs.update(min=spec.min_steps, max=steps)
        self.fields["num_steps"].help_text = f"{spec.min_steps} to {steps}; more steps, more detail, more GPU time."
        self.fields["guidance_scale"].widget.attrs.update(min=0, max=spec.max_guidance, step=0.5)
        self.fields["guidance_scale"].help_text = f"How closely to follow the prompt (0 to {spec.max_guidance:g})."
        defaults = spec.default_settings()
        defaults["num_frames"] = max(n for n in counts if n <= defaults["num_frames"]) if counts else 1
        defaults["width"], defaults["height"] = min(defaults["width"], width), min(defaults["height"], height)
        defaults["num_steps"] = min(defaults["num_steps"], steps)
        for name, value in {"model_key": spec.key, **defaults}.items():
            self.fields[name].initial = value
        if not self.is_bound and self.initial.get("model_key") == spec.key:
            return  # a remix or preset keeps its own settings
        for name in defaults:
            self.initial.pop(name, None)

    def _clean_image(self, name: str):
        upload = self.cleaned_data.get(name)
        if not upload:
            return None
        if upload.size > IMAGE_MAX_BYTES:
            raise forms.ValidationError(f"Images are limited to {IMAGE_MAX_BYTES // (1024 * 1024)} MB.")
        data = upload.read()
        image_judge(data)
        return data

    def clean_image(self):
        return self._clean_image("image")

    def clean_last_image(self):
        return self._clean_image("last_image")

    def clean_variations(self):
        count = self.cleaned_data["variations"]
        if count > 1 and self.queue_limit is not None:
            refusal = quota.variations_refusal(count=count, limit=self.queue_limit, active=self.queue_active)
            if refusal:
                raise forms.ValidationError(refusal)
        return count

    def image_chosen(self, name: str):
        """The new upload's bytes for ``name`` (image or last_image), else the id of the image kept from
        the clip this starts from, else None."""
        return self.cleaned_data.get(name) or self.cleaned_data.get(KEPT_IMAGES[name])

    def settings(self) -> dict:
        """The render settings and mode, without the inputs (which submission needs as stored objects)."""
        return {name: value for name, value in self.cleaned_data.items() if name not in (*MODE_INPUTS, *REMIX_FIELDS)}

    def clean(self):
        cleaned = super().clean()
        # Check the model's rules on every field that parsed, so that all problems show at once;
        # fields that failed to parse stand in with valid values and keep their own error.
        spec = MODELS.get(cleaned.get("model_key")) or _DEFAULT
        candidate = {"prompt": "?", "negative_prompt": "", "seed": None, "model_key": spec.key}
        candidate |= spec.default_settings()
        candidate |= {
            field: value
            for field, value in cleaned.items()
            if field not in self.errors and field not in ("variations", "mode", *MODE_INPUTS, *REMIX_FIELDS)
        }
        for field, message in job_validate(**candidate, grant=self.grant).items():
            if field not in self.errors:
                self.add_error(field, message)
        self._seed_kept(cleaned)
        return cleaned

    def _seed_kept(self, cleaned: dict) -> None:
        if not cleaned.get("keep_seed") or "remix_seed" in self.errors or "seed" in self.errors:
            return
        kept, typed = cleaned.get("remix_seed"), cleaned.get("seed")
        if kept is None:
            self.add_error("keep_seed", "There is no seed to keep: only a remix of a clip has one.")
        elif typed is not None and typed != kept:
            self.add_error("seed", f"Either keep the clip's seed ({kept}) or type another, not both.")
        else:
            cleaned["seed"] = kept


PRESET_NAME_REQUIRED = "Give the preset a name."


class PresetForm(CheckedInput, forms.Form):
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


class PresetRenameForm(CheckedInput, forms.Form):
    name = forms.CharField(max_length=80, strip=True, error_messages={"required": PRESET_NAME_REQUIRED})


class _ClipsInput(forms.FileInput):
    allow_multiple_selected = True


class _ClipsField(forms.FileField):
    """Several files under one name; cleans to a list of uploads."""

    widget = _ClipsInput

    def clean(self, data, initial=None):
        uploads = data if isinstance(data, list | tuple) else [data] if data else []
        if not uploads:
            return [super().clean(None, initial)]  # "This field is required."
        return [super(_ClipsField, self).clean(upload, initial) for upload in uploads]


class TraceForm(CheckedInput, forms.Form):
    clip = _ClipsField(
        label="Clips",
        help_text=(
            f"MP4, MOV or WebM files: up to {trace.MAX_FILES} at once, each at most {trace.MAX_BYTES // 2**20} MB, "
            f"{trace.MAX_TOTAL_BYTES // 2**20} MB in all."
        ),
        widget=_ClipsInput(attrs={"accept": "video/mp4,video/quicktime,video/webm,.mp4,.mov,.webm"}),
    )

    def clean_clip(self):
        uploads = self.cleaned_data["clip"]
        trace.uploads_check(uploads)
        return uploads


class KeptSelect(forms.Select):
    """A select drawn once for each name, value, attributes and choices it is shown with, then kept: the gallery
    draws its state and model filters on every page, with one of a few values each, and Django's select template
    includes two more templates for every option (a millisecond a select). Choices are part of the key, so a
    model added to the registry is drawn afresh."""

    KEPT_MAX = 512
    _kept: dict = {}

    def render(self, name, value, attrs=None, renderer=None):
        choices = tuple(self.choices)
        if any(isinstance(label, (list, tuple)) for _, label in choices):  # option groups: not kept
            return super().render(name, value, attrs, renderer)
        key = (
            type(self),
            renderer,
            name,
            tuple(self.format_value(value)),
            tuple(sorted((str(k), str(v)) for k, v in self.build_attrs(self.attrs, attrs).items())),
            tuple((str(choice), str(label)) for choice, label in choices),
            self.is_required,
        )
        html = self._kept.get(key)
        if html is None:
            if len(self._kept) >= self.KEPT_MAX:
                self._kept.clear()
            html = self._kept[key] = super().render(name, value, attrs, renderer)
        return html


class GalleryFilterForm(CheckedInput, forms.Form):
    """The gallery's filters and search, read from the query string."""

    q = forms.CharField(label="Search", required=False, max_length=200, strip=True)
    state = forms.ChoiceField(choices=[("", "Any state"), *RenderJob.State.choices], required=False, widget=KeptSelect)
    model = forms.ChoiceField(choices=lambda: [("", "Any model"), *model_choices()], required=False, widget=KeptSelect)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    favourites = forms.BooleanField(
        label="Favourites only", required=False, widget=forms.CheckboxInput(attrs={"role": "switch"})
    )
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
            "state": data["state"],
            "model_key": data["model"],
            "since": data["since"],
            "until": data["until"],
            "q": data["q"],
            "favourites": data["favourites"],
        }


class QueueActionForm(CheckedInput, forms.Form):
    """What staff do to a job on the queue page."""

    DONE = {
        "raise": "priority raised",
        "lower": "priority lowered",
        "hold": "held",
        "release": "released",
        "cancel": "cancelled",
    }
    action = forms.ChoiceField(choices=[(action, action.capitalize()) for action in DONE])
