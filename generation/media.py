"""Short-lived signed media links. A link names one clip and expires after BACKLOT_MEDIA_LINK_SECONDS;
every request through it checks again that the clip's owner still has access."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from access.policy import may_use_site
from generation.models import RenderJob

SALT = "generation.media"


class MediaRefused(Exception):
    """Why a media link does not serve its clip, in words for the person holding it."""


def media_url(job: RenderJob, *, download: bool = False) -> str:
    token = signing.dumps({"j": job.pk.hex, "u": job.owner_id, "d": download}, salt=SALT, compress=True)
    return reverse("generation:media", args=[token])


def media_resolve(token: str) -> tuple[RenderJob, bool]:
    """The clip a link points to and whether it is a download; raises MediaRefused."""
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.BACKLOT_MEDIA_LINK_SECONDS)
    except signing.SignatureExpired:
        raise MediaRefused("This media link has expired. Reload the clip's page for a fresh one.") from None
    except signing.BadSignature:
        raise MediaRefused("This media link is not valid.") from None
    job = (
        RenderJob.objects.select_related("owner", "grant")
        .filter(pk=claims["j"], owner_id=claims["u"], state=RenderJob.State.SUCCEEDED)
        .exclude(output="")
        .first()
    )
    if job is None:
        raise MediaRefused("This clip is no longer available.")
    decision = may_use_site(job.owner)
    if not decision:
        raise MediaRefused(decision.reason)
    if claims["d"] and not job.grant.downloads_allowed:
        raise MediaRefused("This grant does not allow downloads; the clip can be watched on its page.")
    return job, claims["d"]
