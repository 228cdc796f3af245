"""Coercion of rendered template values (often strings) into the types operators need."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from airflow_provider_quo.conversation_ids import split_list_string
from airflow_provider_quo.hooks.settings import positive_number

#: Longest ``older_than`` accepted (about 100 years), so a cutoff never overflows.
MAX_DURATION = timedelta(days=36_500)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def as_bool(value: Any, name: str) -> bool:
    """A bool from a bool or a rendered string such as ``"True"`` or ``"false"``.

    :param value: the value.
    :param name: the argument's name, for the error message.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    # An empty render (a missing param) is an error, never a silent False: dry_run must not flip to a real run.
    raise ValueError(f"{name} must be true or false, got {value!r}")


def as_optional_int(value: Any, name: str, *, minimum: int = 1) -> int | None:
    """An int of at least ``minimum``, or ``None`` for ``None``/``""``/``"None"``.

    :param value: the value.
    :param name: the argument's name, for the error message.
    :param minimum: the smallest value allowed.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) or isinstance(value, bool) else value
    except ValueError:
        number = None
    if number is None or isinstance(value, bool) or number < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return number


def _parse_duration(value: Any, name: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(days=value)
    if isinstance(value, str):
        text = value.strip().upper()
        match = _ISO_DURATION.match(text)
        if match and text not in ("P", "PT") and not text.endswith("T"):
            return timedelta(**{k: float(v) for k, v in match.groupdict().items() if v})
        try:
            return timedelta(days=float(text))
        except ValueError:
            pass
    raise ValueError(
        f"{name} must be a timedelta, a number of days or an ISO 8601 duration such as 'P7D' or 'PT36H' "
        f"(years and months are ambiguous), got {value!r}"
    )


def as_optional_rate(value: Any, name: str) -> float | None:
    """A positive, finite number (e.g. requests per second), or ``None`` for ``None``/``""``/``"None"``.

    :param value: the value.
    :param name: the argument's name, for the error message.
    """
    return positive_number(value, name)


def as_duration(value: Any, name: str) -> timedelta:
    """A positive timedelta from a timedelta, a number of days, or an ISO 8601 duration (``P7D``, ``PT36H``).

    :param value: the value.
    :param name: the argument's name, for the error message.
    """
    try:
        duration = _parse_duration(value, name)
    except OverflowError:
        duration = MAX_DURATION * 2
    if not timedelta(0) < duration <= MAX_DURATION:
        raise ValueError(f"{name} must be positive and at most {MAX_DURATION.days} days, got {value!r}")
    return duration


def as_string_list(value: Any, name: str) -> list[str]:
    """A list of non-empty strings from a list, a JSON list string or a comma/space separated string.

    :param value: the value; ``None`` or ``""`` give an empty list.
    :param name: the argument's name, for the error message.
    """
    if value is None:
        return []
    if isinstance(value, str):
        value = split_list_string(value, name)
    if not isinstance(value, Iterable) or isinstance(value, (bytes, dict)):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    items = list(value)
    bad = [item for item in items if not isinstance(item, str)]
    if bad:
        raise ValueError(f"{name} must contain only strings, got {bad[:5]!r}")
    return [item.strip() for item in items if item.strip()]
