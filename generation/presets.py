"""Presets: named groups of render settings, a person's own (private) or a programme's (shared with
its members, managed by its admins). A preset is checked against the model's rules when it is saved;
the grant is checked when a job is submitted, so a preset may ask for more than a person's grant allows."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from access.audit import audit
from access.models import Membership, Programme
from access.policy import is_programme_admin
from core.rows import row_update_or_404
from generation.models import Preset
from generation.registry import MODELS
from generation.render_settings import PROMPT_MAX_LENGTH, SEED_MAX, RenderSettings

NAME_MAX_LENGTH = 80


# --- Reads ---------------------------------------------------------------------------------------


def presets_for(user) -> QuerySet[Preset]:
    """The presets ``user`` may use: their own and those of the programmes they belong to."""
    if not user.is_authenticated:
        return Preset.objects.none()
    programmes = Membership.objects.filter(user=user).values("programme")
    return Preset.objects.filter(Q(owner=user) | Q(programme__in=programmes)).select_related("programme")


def preset_for(user, preset_id) -> Preset:
    """One preset ``user`` may use, or 404 (someone else's private preset is not confirmed to exist)."""
    return get_object_or_404(presets_for(user), pk=preset_id)


def may_manage_preset(user, preset: Preset) -> bool:
    if preset.owner_id is not None:
        return preset.owner_id == user.pk
    return is_programme_admin(user, preset.programme)


# --- Writes --------------------------------------------------------------------------------------


def preset_validate(settings: dict) -> dict[str, str]:
    """The model's rules for these settings, as {field: message}; empty when they may be saved."""
    errors: dict[str, str] = {}
    spec = MODELS.get(settings.get("model_key"))
    if spec is None:
        return {"model_key": f"Unknown model {settings.get('model_key')!r}. Choose one of: {', '.join(MODELS)}."}
    errors.update(
        spec.validate(
            **{field: settings[field] for field in ("num_frames", "width", "height", "num_steps")},
            guidance_scale=settings["guidance_scale"],
        )
    )
    if len(settings.get("negative_prompt") or "") > PROMPT_MAX_LENGTH:
        errors["negative_prompt"] = f"Negative prompts are limited to {PROMPT_MAX_LENGTH} characters."
    seed = settings.get("seed")
    if seed is not None and not (0 <= seed <= SEED_MAX):
        errors["seed"] = f"Seed must be from 0 to {SEED_MAX}."
    return errors


def _name_clean(name: str, *, owner=None, programme=None, exclude: Preset | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the preset a name."})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"Preset names are limited to {NAME_MAX_LENGTH} characters."})
    same = Preset.objects.filter(name__iexact=name, owner=owner, programme=programme)
    if exclude is not None:
        same = same.exclude(pk=exclude.pk)
    if same.exists():
        whose = f"{programme.name} already has" if programme else "You already have"
        raise ValidationError({"name": f"{whose} a preset called {name!r}."})
    return name


@transaction.atomic
def preset_create(
    *, name: str, settings: RenderSettings | dict, owner=None, programme: Programme | None = None, actor=None, ip=None
) -> Preset:
    """Save settings as a preset of ``owner`` (private) or of ``programme`` (shared). Raises
    ValidationError, and then saves nothing; so does a dict of settings with one missing."""
    if (owner is None) == (programme is None):
        raise ValueError("A preset belongs to a person or to a programme.")
    name = _name_clean(name, owner=owner, programme=programme)
    if isinstance(settings, RenderSettings):
        settings = settings.as_fields()
    values = {field: settings.get(field) for field in RenderSettings.names()}
    values["negative_prompt"] = (values["negative_prompt"] or "").strip()
    errors = preset_validate(values)
    if errors:
        raise ValidationError(errors)
    preset = Preset.objects.create(name=name, owner=owner, programme=programme, created_by=actor, **values)
    if programme is not None:
        audit("generation.preset_created", actor=actor, programme=programme, target=preset, ip=ip, settings=values)
    return preset


@transaction.atomic
def preset_rename(*, preset: Preset, name: str, actor=None, ip=None) -> Preset:
    """Rename ``preset``; not found (404) when another request deleted it meanwhile."""
    old = preset.name
    name = _name_clean(name, owner=preset.owner, programme=preset.programme, exclude=preset)
    if name != old:
        row_update_or_404(preset, gone="That preset no longer exists.", name=name, updated_at=timezone.now())
        if preset.programme is not None:
            audit(
                "generation.preset_renamed", actor=actor, programme=preset.programme, target=preset, ip=ip, old_name=old
            )
    return preset


@transaction.atomic
def preset_delete(*, preset: Preset, actor=None, ip=None) -> None:
    if preset.programme is not None:
        audit(
            "generation.preset_deleted",
            actor=actor,
            programme=preset.programme,
            target=preset,
            ip=ip,
            settings=preset.render_settings(),
        )
    preset.delete()
