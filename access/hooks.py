"""Where the apps above access plug in, so that access imports none of them.

- ``access_withdrawn``: a signal sent when people lose access (revoked, suspended, paused); an app stops
  whatever those people have going (generation cancels their jobs).
- ``model_choices``, ``grants_usage``, ``jobs_submitted``: answers access needs about rendering, provided
  by generation.
- A person's data export has its own registry: ``access.export.section``.

Each is connected or provided in the higher app's ``AppConfig.ready()``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

# Sent inside the transaction that takes access away, with ``user_ids`` (a list) and ``reason`` (the words
# the people affected are shown). A receiver that raises undoes the whole withdrawal.
access_withdrawn = Signal()


class Provided:
    """One answer a higher app provides (``provide``, once) and access asks for (call it)."""

    def __init__(self, name: str, doc: str):
        self.name, self.__doc__ = name, doc
        self._answer: Callable | None = None

    def provide(self, answer: Callable) -> Callable:
        self._answer = answer
        return answer

    def __call__(self, *args, **kwargs):
        if self._answer is None:
            raise ImproperlyConfigured(f"No installed app provides access.hooks.{self.name}.")
        return self._answer(*args, **kwargs)


model_choices = Provided("model_choices", "[(key, label)] of every model, in the registry's order.")
grants_usage = Provided(
    "grants_usage",
    "{grant id: {seconds_total, seconds_today, seconds_reserved, active_jobs}} for a list of grants.",
)
jobs_submitted = Provided("jobs_submitted", "How many jobs ``user`` submitted from ``since`` until ``until``.")


def model_keys() -> list[str]:
    return [key for key, _ in model_choices()]


def model_keys_unknown(keys) -> dict[str, str]:
    """{"model_keys": what is wrong} where ``keys`` names a model the registry does not have, else {}."""
    if not keys:
        return {}
    unknown = sorted(set(keys) - set(model_keys()))
    return {"model_keys": f"Unknown models: {', '.join(unknown)}."} if unknown else {}


def model_keys_ordered(keys) -> list[str]:
    """``keys`` (all known), each once, in the registry's order."""
    if not keys:
        return []
    known = model_keys()
    return sorted(set(keys), key=known.index)


def grant_usage(grant) -> dict:
    return grants_usage([grant])[grant.pk]
