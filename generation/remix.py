"""A remix: a new job's request made from one of the person's clips. The API's remix and the page's Remix
button both start from remix_request, so both keep the clip's mode and its inputs (start and last images,
source clip, strength) and both pick a new seed unless the clip's own is kept."""

from __future__ import annotations

import uuid

from generation.models import RenderJob
from generation.render_settings import RenderSettings


def remix_request(clip: RenderJob, *, keep_seed: bool = False, **changes) -> dict:
    """A new job's request made from ``clip``: its prompt, settings, mode and inputs with ``changes`` applied,
    and its seed only if ``keep_seed`` (else the one in ``changes``, or None: a new random seed). Inputs the
    clip has none of are left out; ids are strings, as a request carries them."""
    body = {
        "prompt": clip.prompt,
        **RenderSettings.from_job(clip).as_fields(),
        "mode": clip.mode,
        "image": clip.image_id,
        "last_image": clip.last_image_id,
        "source": clip.source_id,
        "strength": clip.strength,
    }
    body |= changes
    body["seed"] = clip.seed if keep_seed else changes.get("seed")
    return {
        name: str(value) if isinstance(value, uuid.UUID) else value
        for name, value in body.items()
        if value is not None or name == "seed"
    }
