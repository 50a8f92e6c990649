"""Writing one row that another request may have deleted meanwhile."""

from __future__ import annotations

from django.db import models
from django.http import Http404


def row_update_or_404(instance: models.Model, *, gone: str, **values) -> None:
    """Write ``values`` to ``instance``'s row with one UPDATE, and to ``instance``; not found (404, saying
    ``gone``) when the row is no longer there."""
    if not type(instance)._default_manager.filter(pk=instance.pk).update(**values):
        raise Http404(gone)
    for field, value in values.items():
        setattr(instance, field, value)
