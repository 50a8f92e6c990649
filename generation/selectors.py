from django.shortcuts import get_object_or_404

from generation.models import RenderJob


def jobs_for(user):
    """The jobs ``user`` may see: their own, nobody else's."""
    return RenderJob.objects.filter(owner=user)


def job_for(user, job_id) -> RenderJob:
    """One of ``user``'s jobs, or 404 (never 403, which would confirm the job exists)."""
    return get_object_or_404(jobs_for(user), pk=job_id)
