"""Model versions: the version of a model in service at a moment, recording a version and shipping it (its
release notes credit the reporters of the reports it fixed)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from access.audit import audit
from access.policy import is_programme_admin
from feedback.models import ModelVersion
from feedback.notify import notify
from generation.registry import MODELS


def model_version_at(programme, model_key: str, at) -> ModelVersion | None:
    """The version of ``model_key`` in service at ``at``: the latest one shipped by then."""
    return (
        ModelVersion.objects.filter(programme=programme, model_key=model_key, shipped_at__lte=at)
        .order_by("-shipped_at", "-pk")
        .first()
    )


@transaction.atomic
def model_version_create(*, programme, model_key: str, version: str, notes: str = "", actor, ip=None) -> ModelVersion:
    if not is_programme_admin(actor, programme):
        raise PermissionDenied("Only the programme's admins record model versions.")
    errors = {}
    if model_key not in MODELS:
        errors["model_key"] = f"Unknown model {model_key!r}."
    version = version.strip()
    if not version or len(version) > 40:
        errors["version"] = "Name the version (at most 40 characters), e.g. 0.9.1."
    elif ModelVersion.objects.filter(programme=programme, model_key=model_key, version=version).exists():
        errors["version"] = f"{model_key} {version} already exists."
    if errors:
        raise ValidationError(errors)
    model_version = ModelVersion.objects.create(
        programme=programme, model_key=model_key, version=version, notes=notes.strip()
    )
    audit("feedback.model_version_created", actor=actor, programme=programme, target=model_version, ip=ip)
    return model_version


@transaction.atomic
def model_version_ship(*, model_version: ModelVersion, actor, ip=None) -> ModelVersion:
    """Ship a version: from now on new clips are rendered by it, and its release notes credit the reporters
    of the reports it fixed."""
    model_version = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
    if not is_programme_admin(actor, model_version.programme):
        raise PermissionDenied("Only the programme's admins ship model versions.")
    if model_version.shipped_at:
        raise ValidationError(f"{model_version} shipped already.")
    model_version.shipped_at = timezone.now()
    model_version.save(update_fields=["shipped_at"])
    fixed = list(model_version.fixed_reports.select_related("reporter"))
    audit(
        "feedback.model_version_shipped",
        actor=actor,
        programme=model_version.programme,
        target=model_version,
        ip=ip,
        fixed=[report.pk for report in fixed],
    )
    for report in fixed:
        notify(
            report.reporter,
            f"{model_version} shipped with the fix for your report #{report.pk}.",
            model_version.get_absolute_url(),
        )
    return model_version
