"""Typed readers for settings that come from the environment."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}.")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envmap(name: str, default: str = "") -> dict[str, str]:
    """Read ``key=value,key=value`` pairs."""
    pairs = {}
    for item in envlist(name, default):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name} must be a list of key=value pairs, not {item!r}.")
        pairs[key.strip()] = value.strip()
    return pairs


_READERS = {"str": envstr, "bool": envbool, "int": envint, "float": envfloat, "list": envlist, "map": envmap}
_UNSET = object()


def env(name: str, *, default: object = _UNSET, production: bool = False, **placeholders: object):
    """The value of the declared setting ``name`` (config/settings_spec.py), read by its type, with its
    declared default: the production one when ``production`` and the setting has one; ``$PLACEHOLDER``s in a
    string default are filled from ``placeholders``. Only a computed default may be given here."""
    from string import Template

    from config.settings_spec import BY_NAME, Computed

    setting = BY_NAME.get(name)
    if setting is None:
        raise ImproperlyConfigured(f"{name} is not declared in config/settings_spec.py.")
    declared = setting.default
    if production and setting.production_default is not None:
        declared = setting.production_default
    if isinstance(declared, Computed):
        if default is _UNSET:
            raise ImproperlyConfigured(f"{name}'s default is computed ({declared.shown}): pass it as default=.")
        declared = default
    elif default is not _UNSET:
        raise ImproperlyConfigured(f"{name}'s default is declared in config/settings_spec.py, not at the call.")
    if isinstance(declared, str) and "$" in declared:
        declared = Template(declared).substitute({key: str(value) for key, value in placeholders.items()})
    return _READERS[setting.type](name, declared)
