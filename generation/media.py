"""Short-lived signed media links. A link names one clip and expires after BACKLOT_MEDIA_LINK_SECONDS;
every request through it checks again that the clip's owner still has access."""

from __future__ import annotations

from access.policy import may_use_site
from core.signed_links import LinkRefused, SignedLinks
from core.urls import reverse_one
from generation.models import RenderJob


class MediaRefused(LinkRefused):
    """Why a media link does not serve its clip, in words for the person holding it."""


LINKS = SignedLinks(
    salt="generation.media",
    noun="media link",
    on_expiry="Reload the clip's page for a fresh one.",
    refused=MediaRefused,
)


VIDEO, DOWNLOAD, POSTER = "video", "download", "poster"


def media_url(job: RenderJob, *, download: bool = False, poster: bool = False) -> str:
    """A signed link to the clip (to watch, or ``download``) or to its ``poster`` still."""
    kind = POSTER if poster else DOWNLOAD if download else VIDEO
    return reverse_one("generation:media", LINKS.sign({"j": job.pk.hex, "u": job.owner_id, "k": kind}))


def media_resolve(token: str) -> tuple[RenderJob, str]:
    """The clip a link points to and what it serves (VIDEO, DOWNLOAD or POSTER); raises MediaRefused."""
    claims = LINKS.read(token)
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
