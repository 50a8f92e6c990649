"""Records that are written once and never changed: the audit trail, the contribution ledger, prompt
refusals. Corrections are new records. The database user could still change them; the application
never does, and says so loudly if asked to."""

from django.core.exceptions import ValidationError
from django.db import models


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValidationError(self.model.append_only_message)

    def delete(self):
        raise ValidationError(self.model.append_only_message)


class AppendOnlyModel(models.Model):
    append_only_message = "These records are append-only."

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError(self.append_only_message)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(self.append_only_message)
