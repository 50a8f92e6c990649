from django import template
from django.template.defaulttags import CsrfTokenNode
from django.utils.html import format_html

from core.urls import reverse_one
from generation import library
from generation.models import Favourite, RenderJob

register = template.Library()

_CSRF_TOKEN = CsrfTokenNode()  # {% csrf_token %}


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


@register.simple_tag(takes_context=True)
def favourite_form(context) -> str:
    """The star form of ``job`` (generation/library/_favourite.html, its one use): written in Python because a
    gallery page shows one per finished clip, and as template markup it cost more than the rest of the card
    (a URL reversed, a token, six filtered values, two missing variables looked up through the whole context).
    The address is filled in with each clip's id (core.urls.reverse_one). Comes back after ``next`` (else to
    this page), and shows ``favourite_error``."""
    job = context["job"]
    address = reverse_one("generation:favourite_set", job.pk)
    starred = bool(getattr(job, "is_favourite", False))
    request = context.get("request")
    error = context.get("favourite_error")
    return format_html(
        '<form class="favourite" method="post" action="{}" hx-post="{}" hx-swap="outerHTML">\n'
        '  {}<input type="hidden" name="favourite" value="{}">\n'
        '  <input type="hidden" name="next" value="{}">\n'
        '  <button type="submit" class="star small" aria-pressed="{}" title="{}"><span aria-hidden="true">{}</span>'
        " Favourite</button>\n"
        "  {}\n"
        "</form>",
        address,
        address,
        _CSRF_TOKEN.render(context),
        "0" if starred else "1",
        context.get("next_url") or (request.get_full_path() if request is not None else ""),
        "true" if starred else "false",
        "Starred: press to unstar" if starred else "Star this clip",
        "★" if starred else "☆",
        format_html('<span class="error small" role="alert">{}</span>', error) if error else "",
    )
