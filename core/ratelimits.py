"""Rate limits on the actions people could flood: sending invitations, creating API tokens and submitting
render jobs (the web form and the API share one budget). Each limit is a setting, ``count/period`` with
period s, m, h or d, counted per person in the shared cache (CACHE_URL, so across web workers). A refused
request is refused before anything is written, and its attempt is not counted."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
WHAT = {"invitations": "invitations", "tokens": "API tokens", "submissions": "render jobs"}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    def __str__(self) -> str:
        unit = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(self.seconds, f"{self.seconds} s")
        return f"{self.count} per {unit}"


def rate_parse(text: str) -> Rate:
    count, _, period = text.strip().partition("/")
    period = period.strip().lower()
    multiple, unit = period[:-1], period[-1:]
    if not count.isdigit() or unit not in PERIODS or not (multiple == "" or multiple.isdigit()):
        raise ImproperlyConfigured(f"A rate limit is written count/period, e.g. 30/m or 200/h, not {text!r}.")
    return Rate(int(count), int(multiple or 1) * PERIODS[unit])


class RateLimited(Exception):
    """Too many of one action: says how many are allowed and when the next one will be."""

    def __init__(self, *, scope: str, rate: Rate, retry_after: int):
        self.retry_after = retry_after
        minutes = math.ceil(retry_after / 60)
        wait = f"{retry_after} seconds" if retry_after < 120 else f"{minutes} minutes"
        super().__init__(f"Too many {WHAT.get(scope, scope)}: at most {rate} each. Try again in {wait}.")


def _bucket(scope: str, key, rate: Rate) -> tuple[str, int]:
    now = time.time()
    window = int(now // rate.seconds)
    retry_after = max(1, math.ceil((window + 1) * rate.seconds - now))
    return f"ratelimit:{scope}:{key}:{rate.seconds}:{window}", retry_after


def rate_consume(*, scope: str, key, cost: int = 1) -> None:
    """Count ``cost`` uses of ``scope`` by ``key`` (a person's id), or raise RateLimited and count none."""
    rate = rate_parse(settings.BACKLOT_RATE_LIMITS[scope])
    bucket, retry_after = _bucket(scope, key, rate)
    cache.add(bucket, 0, timeout=rate.seconds + 1)
    used = cache.incr(bucket, cost)
    if used > rate.count:
        cache.decr(bucket, cost)
        raise RateLimited(scope=scope, rate=rate, retry_after=retry_after)


def rate_refund(*, scope: str, key, cost: int = 1) -> None:
    """Give back uses that did not happen: refused by the service, or a replayed idempotent request."""
    rate = rate_parse(settings.BACKLOT_RATE_LIMITS[scope])
    bucket, _ = _bucket(scope, key, rate)
    with contextlib.suppress(ValueError):  # the window has passed
        cache.decr(bucket, cost)


def retry_after(response, limited: RateLimited):
    """``response`` (the page with the refusal on it, status 429) with the Retry-After header set."""
    assert response.status_code == 429
    response["Retry-After"] = str(limited.retry_after)
    return response
