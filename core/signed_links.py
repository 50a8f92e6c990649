"""Short-lived signed links to media (clips, films): a link carries its claims signed with a salt of its
own and expires after BACKLOT_MEDIA_LINK_SECONDS. What a link may serve, and to whom, is checked again on
every request by the app that resolves it; this module only makes and reads the token."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing


class LinkRefused(Exception):
    """Why a link does not serve what it names, in words for the person holding it."""


@dataclass(frozen=True)
class SignedLinks:
    """One kind of link: ``salt`` keeps its tokens from being read as another kind's, ``noun`` and
    ``on_expiry`` word its refusals, which are raised as ``refused``."""

    salt: str
    noun: str
    on_expiry: str
    refused: type[Exception] = LinkRefused

    def sign(self, claims: dict) -> str:
        return signing.dumps(claims, salt=self.salt, compress=True)

    def read(self, token: str) -> dict:
        """The claims a token carries; raises ``refused`` when it has expired or was not made here."""
        try:
            return signing.loads(token, salt=self.salt, max_age=settings.BACKLOT_MEDIA_LINK_SECONDS)
        except signing.SignatureExpired:
            raise self.refused(f"This {self.noun} has expired. {self.on_expiry}") from None
        except signing.BadSignature:
            raise self.refused(f"This {self.noun} is not valid.") from None
