from django import template

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
