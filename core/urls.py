"""Reversing one route for every row of a list. Django's reverse() matches the route against every pattern each
time (about 0.1 ms); here a route is reversed once per script prefix and URLconf with a stand-in value, and each
row's value is put in the stand-in's place, quoted as reverse() quotes it."""

from __future__ import annotations

from urllib.parse import quote
from uuid import UUID

from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils.http import RFC3986_SUBDELIMS

# Matches a route's uuid converter and its str and slug ones alike.
_STAND_IN = UUID("0b5c0e1d-5107-4f11-8e00-5c0e1d5107f1")
_ADDRESSES: dict = {}


def reverse_one(viewname: str, value: UUID | str) -> str:
    """reverse(viewname, args=[value]) for a route whose one argument is a UUID, or a string (quoted)."""
    key = (viewname, get_script_prefix(), get_resolver(get_urlconf()))
    address = _ADDRESSES.get(key)
    if address is None:
        address = _ADDRESSES[key] = reverse(viewname, args=[_STAND_IN])
    text = str(value) if isinstance(value, UUID) else quote(value, safe=RFC3986_SUBDELIMS + "/~:@")
    return address.replace(str(_STAND_IN), text, 1)
