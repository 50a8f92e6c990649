"""How generation plugs into access (access/hooks.py): it stops the jobs of people who lose access, and
answers what access asks about models, usage and submissions."""

from __future__ import annotations

from django.dispatch import receiver

from access import hooks
from generation.job_actions import jobs_cancel_for_owners
from generation.models import RenderJob
from generation.quota import grants_usage
from generation.registry import model_choices


@receiver(hooks.access_withdrawn)
def cancel_jobs_of_withdrawn(sender, *, user_ids, reason: str, **kwargs):
    """Queued jobs are cancelled; running ones see it at their next denoising step and stop."""
    jobs_cancel_for_owners(owner_ids=user_ids, reason=reason)


def jobs_submitted(*, user, since, until=None) -> int:
    jobs = RenderJob.objects.filter(owner=user, queued_at__gte=since)
    return (jobs.filter(queued_at__lt=until) if until is not None else jobs).count()


hooks.model_choices.provide(model_choices)
hooks.grants_usage.provide(grants_usage)
hooks.jobs_submitted.provide(jobs_submitted)
