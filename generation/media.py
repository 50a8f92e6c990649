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


VIDEO, DOWNLOAD, POSTER = "video", "download", "poster"


def media_url(job: RenderJob, *, download: bool = False, poster: bool = False) -> str:
    """A signed link to the clip (to watch, or ``download``) or to its ``poster`` still."""
    kind = POSTER if poster else DOWNLOAD if download else VIDEO
    token = signing.dumps({"j": job.pk.hex, "u": job.owner_id, "k": kind}, salt=SALT, compress=True)
    return reverse("generation:media", args=[token])


def media_resolve(token: str) -> tuple[RenderJob, str]:
    """The clip a link points to and what it serves (VIDEO, DOWNLOAD or POSTER); raises MediaRefused."""
    try:
        claims = signing.loads(token, salt=SALT, max_age=settings.BACKLOT_MEDIA_LINK_SECONDS)
    except signing.SignatureExpired:
        raise MediaRefused("This media link has expired. Reload the clip's page for a fresh one.") from None
    except signing.BadSignature:
        raise MediaRefused("This media link is not valid.") from None
    kind = claims.get("k", VIDEO)
    job = (
        RenderJob.objects.select_related("owner", "grant")
        .filter(pk=claims["j"], owner_id=claims["u"], state=RenderJob.State.SUCCEEDED, deleted_at__isnull=True)
        .exclude(**{"poster" if kind == POSTER else "output": ""})
        .first()
    )
    if job is None:
        raise MediaRefused("This clip is no longer available.")
    decision = may_use_site(job.owner)
    if not decision:
        raise MediaRefused(decision.reason)
    if kind == DOWNLOAD and not job.grant.downloads_allowed:
        raise MediaRefused("This grant does not allow downloads; the clip can be watched on its page.")
    return job, kind
