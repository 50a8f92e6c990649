from django import template

from generation import library
from generation.models import Favourite, RenderJob

register = template.Library()


@register.inclusion_tag("generation/library/_clip_library.html", takes_context=True)
def clip_library(context, job: RenderJob):
    """The clip page's star, collections and "Compare with…", for a finished clip (two queries)."""
    keepable = job.state == RenderJob.State.SUCCEEDED and bool(job.output) and job.deleted_at is None
    result = {
        "job": job,
        "keepable": keepable,
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
        # Also drawn into the page by the progress poll at the finish: forms come back to the clip, not the poll.
        "next_url": job.get_absolute_url(),
    }
    if keepable:
        job.is_favourite = Favourite.objects.filter(owner_id=job.owner_id, job=job).exists()
        collections = library.job_collections(job)
        result |= {
            "holding": [collection for collection, holds in collections if holds],
            "others": [collection for collection, holds in collections if not holds],
            "name_max_length": library.NAME_MAX_LENGTH,
        }
    return result
