"""A render's settings: the eight values besides the prompt that decide what a model renders (model,
length, size, steps, guidance, negative prompt, seed). Jobs and presets store them, the forms and the API
take them in, and job_validate holds every rule they must meet, the model's and the grant's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from core.text import text_problem
from generation.registry import MODELS

if TYPE_CHECKING:
    from access.models import Grant

PROMPT_MAX_LENGTH = 1000
SEED_MAX = 2**32 - 1


# A job's prompt and settings, in the order the API and the data export show them.
REQUEST_FIELDS = (
    "prompt",
    "negative_prompt",
    "model_key",
    "num_frames",
    "width",
    "height",
    "num_steps",
    "guidance_scale",
    "seed",
)


@dataclass(frozen=True)
class RenderSettings:
    """What a job renders, apart from its prompt; a preset is a named RenderSettings."""

    model_key: str
    num_frames: int
    width: int
    height: int
    num_steps: int
    guidance_scale: float
    negative_prompt: str = ""
    seed: int | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    @classmethod
    def from_mapping(cls, values) -> RenderSettings:
        """The settings among ``values`` (a form's or serializer's cleaned data, a dict); others are ignored."""
        return cls(**{name: values[name] for name in cls.names() if name in values})

    @classmethod
    def from_job(cls, job) -> RenderSettings:
        return cls(**{name: getattr(job, name) for name in cls.names()})

    @classmethod
    def from_preset(cls, preset) -> RenderSettings:
        return cls.from_job(preset)

    def as_fields(self) -> dict:
        """{field: value}, as the job and preset models name their columns."""
        return asdict(self)


def job_validate(
    *,
    prompt: str,
    negative_prompt: str,
    model_key: str,
    num_frames: int,
    width: int,
    height: int,
    num_steps: int,
    guidance_scale: float,
    seed: int | None,
    grant: Grant | None = None,
) -> dict[str, str]:
    """Every rule a job's settings must meet, the model's and the grant's, as {field: message}.
    Empty when the job may be queued."""
    errors: dict[str, str] = {}
    if not prompt.strip():
        errors["prompt"] = "Write a prompt describing the clip."
    elif len(prompt) > PROMPT_MAX_LENGTH:
        errors["prompt"] = f"Prompts are limited to {PROMPT_MAX_LENGTH} characters (this one has {len(prompt)})."
    elif problem := text_problem(prompt, multiline=True):
        errors["prompt"] = problem
    if len(negative_prompt) > PROMPT_MAX_LENGTH:
        errors["negative_prompt"] = f"Negative prompts are limited to {PROMPT_MAX_LENGTH} characters."
    elif problem := text_problem(negative_prompt, multiline=True):
        errors["negative_prompt"] = problem
    if seed is not None and not (0 <= seed <= SEED_MAX):
        errors["seed"] = f"Seed must be from 0 to {SEED_MAX}."
    spec = MODELS.get(model_key)
    if spec is None:
        errors["model_key"] = f"Unknown model {model_key!r}. Choose one of: {', '.join(MODELS)}."
        return errors
    errors.update(
        spec.validate(
            num_frames=num_frames, width=width, height=height, num_steps=num_steps, guidance_scale=guidance_scale
        )
    )
    if grant is not None:
        if not grant.programme.offers_model(model_key):
            errors.setdefault("model_key", f"{grant.programme.name} does not offer {spec.label}.")
        elif not grant.allows_model(model_key):
            errors.setdefault("model_key", f"Your grant does not include {spec.label}.")
        for field, value, limit, noun in (
            ("num_frames", num_frames, grant.max_frames, "frames"),
            ("width", width, grant.max_width, "pixels wide"),
            ("height", height, grant.max_height, "pixels high"),
            ("num_steps", num_steps, grant.max_steps, "steps"),
        ):
            if value > limit:
                errors.setdefault(field, f"Your grant allows at most {limit} {noun}.")
    return errors
