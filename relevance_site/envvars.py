"""Strict readers for settings taken from environment variables.

A malformed value stops start-up with a message naming the variable, instead of
silently falling back to a default that hides the operator's mistake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigurationError(Exception):
    """An environment variable holds a value the application cannot use."""


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean; use one of: true, false, 1, 0, yes, no, on, off")


def env_int(name: str, default: int, minimum: int | None = None, environ: Mapping[str, str] | None = None) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ConfigurationError(f"{name}={number} is below the minimum of {minimum}")
    return number


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(
    name: str,
    default: str,
    pattern_ok: Callable[[str], bool],
    hint: str,
    environ: Mapping[str, str] | None = None,
) -> str:
    value = _raw(name, environ)
    if value is None:
        return default
    if not pattern_ok(value):
        raise ConfigurationError(f"{name}={value!r} is not valid; expected {hint}")
    return value


def valid_ml_device(value: str) -> bool:
    """`auto`, `cpu`, `mps`, `cuda` or `cuda:N`."""
    if value in {"auto", "cpu", "cuda", "mps"}:
        return True
    prefix, _, index = value.partition(":")
    return prefix == "cuda" and index.isdigit()


def valid_url_scheme(*schemes: str) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return value.split("://", 1)[0] in schemes and "://" in value

    return check
