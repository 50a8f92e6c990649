"""core.signed_links: one way to make and read the short-lived links to clips and films."""

import pytest
from django.core import signing

from competition.media import LINKS as FILM_LINKS
from competition.media import FilmRefused
from core.signed_links import LinkRefused, SignedLinks
from generation.media import LINKS as CLIP_LINKS
from generation.media import MediaRefused

LINKS = SignedLinks(salt="tests.links", noun="test link", on_expiry="Ask again.")


def test_a_link_carries_its_claims():
    assert LINKS.read(LINKS.sign({"a": 1, "b": "two"})) == {"a": 1, "b": "two"}


def test_an_expired_link_is_refused_with_its_own_words(settings):
    token = LINKS.sign({"a": 1})
    settings.BACKLOT_MEDIA_LINK_SECONDS = -1
    with pytest.raises(LinkRefused, match="^This test link has expired. Ask again.$"):
        LINKS.read(token)


def test_a_link_of_one_kind_is_not_read_as_another():
    with pytest.raises(LinkRefused, match="^This test link is not valid.$"):
        LINKS.read(SignedLinks(salt="tests.other", noun="other", on_expiry="").sign({"a": 1}))
    with pytest.raises(FilmRefused, match="film link is not valid"):
        FILM_LINKS.read(CLIP_LINKS.sign({"j": "x", "u": 1, "k": "video"}))
    with pytest.raises(MediaRefused, match="media link is not valid"):
        CLIP_LINKS.read(FILM_LINKS.sign({"s": 1, "u": 1, "k": "blind"}))


def test_a_changed_link_is_refused():
    token = LINKS.sign({"a": 1})
    with pytest.raises(LinkRefused):
        LINKS.read(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert issubclass(MediaRefused, LinkRefused) and issubclass(FilmRefused, LinkRefused)
    assert signing.loads(token, salt="tests.links") == {"a": 1}
