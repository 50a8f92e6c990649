"""The staff queue's action forms, written in Python: the page shows one per job (up to a few hundred rows), and
as an included template each form cost more than the rest of its row (a URL reversed, a context pushed)."""

from __future__ import annotations

import uuid

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join

register = template.Library()

_ANY_JOB = uuid.UUID(int=0)


@register.simple_tag(takes_context=True)
def queue_action_form(context, job, actions) -> str:
    """One form per job, a button per action of ``actions`` ((action, label) pairs): the button's name and
    value say which. The action address is reversed once per page and filled in with each job's id."""
    address = context.render_context.get(__name__)
    if address is None:
        address = context.render_context[__name__] = reverse("generation_staff:queue_job_action", args=[_ANY_JOB])
    buttons = format_html_join(
        "",
        '<button type="submit" name="action" value="{}" class="small{}" title="{} job {}">{}</button>',
        ((action, " danger" if action == "cancel" else "", label, job.short_id, label) for action, label in actions),
    )
    return format_html(
        '<form method="post" action="{}" class="queue-action">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">{}</form>',
        address.replace(str(_ANY_JOB), str(job.pk)),
        context.get("csrf_token", ""),
        buttons,
    )
