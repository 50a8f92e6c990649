"""The text-to-video models Backlot can serve, and the rules each one's pipeline enforces.

A model is loaded from its hub id in real deployments and from its smoke build (tiny random
weights, see generation/smoke.py) in tests and the demo; both go through the same
``from_pretrained`` call, and only the source differs (settings.BACKLOT_MODEL_SOURCES).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class ModelSpec:
    key: str
    label: str
    pipeline_class: str
    hub_id: str
    fps: int
    frame_step: int  # valid frame counts are frame_step * k + 1
    size_multiple: int
    min_size: int
    max_width: int
    max_height: int
    max_frames: int
    max_steps: int
    default_width: int
    default_height: int
    default_frames: int
    default_steps: int
    default_guidance: float
    max_guidance: float = 20.0
    max_sequence_length: int = 128
    # GPU seconds per million pixel-frame-steps, plus a fixed cost (text encoding, VAE decode):
    # the estimate a job reserves against its grant's quota before it runs.
    seconds_per_unit: float = 0.011
    fixed_seconds: float = 2.0

    @property
    def queue(self) -> str:
        return f"render.{self.key}"

    @property
    def smoke_folder(self) -> Path:
        return settings.BACKLOT_MODELS_DIR / "smoke" / self.key

    def source(self) -> str:
        """The hub id or local folder that ``from_pretrained`` loads this model from."""
        configured = settings.BACKLOT_MODEL_SOURCES.get(self.key)
        if configured is None:
            return str(self.smoke_folder)
        return self.hub_id if configured == "hub" else configured

    def estimate_gpu_seconds(self, *, num_frames: int, width: int, height: int, num_steps: int) -> float:
        units = num_frames * width * height * num_steps / 1e6
        return round(self.fixed_seconds + self.seconds_per_unit * units, 2)

    def default_settings(self) -> dict:
        return {
            "num_frames": self.default_frames,
            "width": self.default_width,
            "height": self.default_height,
            "num_steps": self.default_steps,
            "guidance_scale": self.default_guidance,
        }

    def frame_counts_hint(self) -> str:
        examples = ", ".join(str(self.frame_step * k + 1) for k in (2, 6, 12))
        return f"{self.frame_step}k+1 (e.g. {examples})"

    def validate(
        self, *, num_frames: int, width: int, height: int, num_steps: int, guidance_scale: float
    ) -> dict[str, str]:
        """Check settings against this model's rules; returns {field: message} for each problem."""
        errors: dict[str, str] = {}
        if not (1 <= num_frames <= self.max_frames) or (num_frames - 1) % self.frame_step:
            errors["num_frames"] = f"{self.label} renders {self.frame_counts_hint()} frames, at most {self.max_frames}."
        for field, value, largest in (("width", width, self.max_width), ("height", height, self.max_height)):
            if value % self.size_multiple or not (self.min_size <= value <= largest):
                errors[field] = (
                    f"{field.capitalize()} must be a multiple of {self.size_multiple} "
                    f"from {self.min_size} to {largest} pixels."
                )
        if not (1 <= num_steps <= self.max_steps):
            errors["num_steps"] = f"Steps must be from 1 to {self.max_steps}."
        if not (0 <= guidance_scale <= self.max_guidance):
            errors["guidance_scale"] = f"Guidance must be from 0 to {self.max_guidance:g}."
        return errors


MODELS: dict[str, ModelSpec] = {
    spec.key: spec
    for spec in [
        ModelSpec(
            key="ltx-video",
            label="LTX-Video",
            pipeline_class="LTXPipeline",
            hub_id="Lightricks/LTX-Video",
            fps=24,
            frame_step=8,
            size_multiple=32,
            min_size=64,
            max_width=1280,
            max_height=1280,
            max_frames=257,
            max_steps=100,
            default_width=704,
            default_height=480,
            default_frames=121,
            default_steps=30,
            default_guidance=3.0,
        ),
    ]
}


def model_get(key: str) -> ModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise ImproperlyConfigured(f"Unknown model {key!r}.") from None


def model_choices() -> list[tuple[str, str]]:
    return [(spec.key, spec.label) for spec in MODELS.values()]
