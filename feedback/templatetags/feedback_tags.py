from datetime import datetime

from django import template
from django.template.defaultfilters import filesizeformat, floatformat
from django.utils import timezone

from feedback.clips import job_programme
from feedback.models import ShowcaseOffer
from feedback.reports import is_red_teamer

register = template.Library()


@register.inclusion_tag("feedback/_clip_actions.html", takes_context=True)
def clip_feedback(context, job):
    """Rate, report and showcase buttons for the owner's clip page."""
    user = context["request"].user
    return {
        "job": job,
        "user": user,
        "csrf_token": context.get("csrf_token"),
        "is_red_teamer": is_red_teamer(user, job_programme(job)),
        "showcase_offer": ShowcaseOffer.objects.filter(job=job).first(),
    }


REPRODUCTION_LABELS = {
    "job": "Job",
    "model_key": "Model key",
    "hub_id": "Hub ID",
    "num_frames": "Frames",
    "num_steps": "Steps",
    "guidance_scale": "Guidance",
    "image": "Start image",
    "image_file": "Start image file",
    "last_image": "Last frame",
    "last_image_file": "Last frame file",
    "source": "Source clip",
    "source_prompt": "Source clip's prompt",
    "source_seed": "Source clip's seed",
    "source_model": "Source clip's model",
    "gpu_seconds": "GPU time",
    "encode_seconds": "Encoding time",
    "output_bytes": "File size",
    "queued_at": "Queued",
    "started_at": "Started",
    "finished_at": "Finished",
}


def reproduction_value(key: str, value) -> str:
    """A reproduction record's value as a person reads it: seconds to two places, sizes in bytes as KB/MB,
    times in the site's zone to the second; the rest as recorded."""
    if value is None or value == "":
        return "—"
    if key.endswith("_seconds") and isinstance(value, int | float):
        return f"{floatformat(value, 2)} s"
    if key.endswith("_bytes") and isinstance(value, int):
        return filesizeformat(value)
    if key.endswith("_at") and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if timezone.is_aware(moment) else value
    if isinstance(value, float):
        return floatformat(value, -2)
    return str(value)


@register.filter
def reproduction_rows(reproduction: dict) -> list[tuple[str, str]]:
    """(label, value) rows of a report's reproduction record, in the order it was recorded."""
    return [
        (REPRODUCTION_LABELS.get(key, key.replace("_", " ").capitalize()), reproduction_value(key, value))
        for key, value in reproduction.items()
    ]


@register.filter
def as_reproduced(value, key: str) -> str:
    """``{{ value|as_reproduced:"queued_at" }}``: one reproduction value, formatted as in ``reproduction_rows``."""
    return reproduction_value(key, value)
