"""The key's budget as the server states it: the IETF rate-limit header fields, read strictly.

Quo sends (undocumented, on every response, errors included) the fields of
draft-ietf-httpapi-ratelimit-headers::

    RateLimit-Policy: "per-second"; q=10; w=1      (q requests per w-second window)
    RateLimit: "per-second"; r=9; t=1             (r left in the current window, t seconds until it resets)

:func:`read_rate_limit` turns a response's headers into a :class:`Reading`. Names are case-insensitive;
the policy name may be quoted (a structured-field string), a token, or absent; a field may list several
policies, and then the **most restrictive** one is chosen (the lowest ``q / w``; on a tie, the shortest
window), with the ``RateLimit`` item of the same name (or the only one). The older fields
``RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` are read when the new ones are absent (a limit counts
only with its window, ``10;w=1``). Anything malformed (a non-numeric, negative or non-finite number,
``w=0``, an absurd ``q``) is ignored, with one warning per field and reason per process; nothing here
ever raises. Pure: no I/O, no clock.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: A stated quota above this many requests per window is absurd, and ignored.
MAX_QUOTA = 100_000.0
#: A stated window (or reset) longer than a day is absurd, and ignored.
MAX_SECONDS = 86_400.0

_NUMBER = re.compile(r"\d{1,15}(?:\.\d{1,6})?")  # RFC 8941 integers and decimals, non-negative only
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]*")
_logged: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Policy:
    """One quota policy: ``quota`` requests per ``window`` seconds.

    :param name: the policy's name (``"per-second"``), or ``None``.
    :param quota: requests per window (``q``).
    :param window: the window in seconds (``w``).
    """

    name: str | None
    quota: float
    window: float

    @property
    def rate(self) -> float:
        """Requests per second: ``quota / window``."""
        return self.quota / self.window


@dataclass(frozen=True)
class Reading:
    """What one response says about the key's budget.

    :param policy: the chosen policy, or ``None`` if none was stated (or none was valid).
    :param remaining: requests left in the current window (``r``), or ``None``.
    :param reset: seconds until the window resets (``t``), or ``None``.
    """

    policy: Policy | None = None
    remaining: float | None = None
    reset: float | None = None

    @property
    def window_spent(self) -> bool:
        """Whether it states the window spent (``r = 0``) and when it resets: a 429 it explains needs only
        the pause until then, not the back-off for a server that states nothing."""
        return self.remaining is not None and self.remaining <= 0 and self.reset is not None


@dataclass(frozen=True)
class _Item:
    name: str | None
    params: dict[str, str]


def _warn_once(field: str, reason: str, value: str) -> None:
    if (field, reason) not in _logged:
        _logged.add((field, reason))
        log.warning("Ignoring the server's %s header %r: %s (logged once)", field, value[:200], reason)


def _split(value: str, separator: str) -> list[str]:
    """``value`` split on ``separator`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _items(value: str) -> list[_Item] | None:
    """A structured-field list: each member a bare item (string, token or number) with ``;key=value``
    parameters. ``None`` if it does not parse."""
    items = []
    for member in _split(value, ","):
        pieces = [piece.strip() for piece in _split(member, ";")]
        head, params = pieces[0], {}
        name: str | None = None
        if head.startswith('"') and head.endswith('"') and len(head) >= 2:
            name = head[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif _TOKEN.fullmatch(head) or _NUMBER.fullmatch(head):
            name = head
        elif "=" in head:
            pieces = ["", *pieces]  # no name at all: "q=10; w=1"
        else:
            return None
        for piece in pieces[1:]:
            key, equals, number = piece.partition("=")
            if not equals or not key.strip():
                return None
            params[key.strip().lower()] = number.strip()
        items.append(_Item(name, params))
    return items


def _number(text: str | None, *, positive: bool = False, limit: float = MAX_SECONDS) -> float | None:
    """A non-negative number (digits, optionally a fraction), or ``None``; ``positive`` refuses 0."""
    if text is None or not _NUMBER.fullmatch(text):
        return None
    number = float(text)
    if not math.isfinite(number) or number > limit or (positive and number <= 0):
        return None
    return number


def _policies(field: str, value: str, items: list[_Item]) -> list[Policy]:
    policies = []
    for item in items:
        quota = _number(item.params.get("q"), positive=True, limit=MAX_QUOTA)
        window = _number(item.params.get("w"), positive=True)
        if quota is None or window is None:
            _warn_once(field, "needs q > 0 (at most 100,000) and w > 0 (seconds, at most a day)", value)
            continue
        policies.append(Policy(item.name, quota, window))
    return policies


def _chosen(policies: list[Policy]) -> Policy | None:
    """The most restrictive policy: the lowest rate; on a tie, the shortest window."""
    return min(policies, key=lambda policy: (policy.rate, policy.window)) if policies else None


def _remaining_item(items: list[_Item], policy: Policy | None) -> _Item | None:
    """The ``RateLimit`` item that goes with ``policy``: the same name, else the only item, else the lowest r."""
    if policy is not None and policy.name is not None:
        named = [item for item in items if item.name == policy.name]
        if named:
            return named[0]
    if len(items) == 1:
        return items[0]

    def remaining(item: _Item) -> float:
        number = _number(item.params.get("r"), limit=MAX_QUOTA)
        return math.inf if number is None else number

    return min(items, key=remaining) if items else None


def _read_fields(policy_value: str | None, limit_value: str | None) -> Reading:
    policy = None
    if policy_value is not None:
        items = _items(policy_value)
        if items is None:
            _warn_once("RateLimit-Policy", "not a structured-field list", policy_value)
        else:
            policy = _chosen(_policies("RateLimit-Policy", policy_value, items))
    if limit_value is None:
        return Reading(policy=policy)
    items = _items(limit_value)
    if items is None:
        _warn_once("RateLimit", "not a structured-field list", limit_value)
        return Reading(policy=policy)
    item = _remaining_item(items, policy)
    if item is None:
        return Reading(policy=policy)
    remaining = _number(item.params.get("r"), limit=MAX_QUOTA)
    reset = _number(item.params.get("t"))
    if remaining is None or ("t" in item.params and reset is None):
        _warn_once("RateLimit", "needs r >= 0 and t >= 0 (seconds, at most a day)", limit_value)
        return Reading(policy=policy)
    return Reading(policy=policy, remaining=remaining, reset=reset)


def _read_older_fields(limit: str | None, remaining: str | None, reset: str | None) -> Reading:
    """``RateLimit-Limit: 10, 10;w=1`` (a limit counts only with its window), ``-Remaining``, ``-Reset``."""
    policy = None
    if limit is not None:
        items = _items(limit) or [_Item(None, {})]
        current = items[0].name
        first = _number(current, positive=True, limit=MAX_QUOTA)
        windows = [_number(item.params.get("w"), positive=True) for item in items if item.name == current]
        window = next((seconds for seconds in windows if seconds is not None), None)
        if first is None or window is None:
            _warn_once("RateLimit-Limit", "needs a quota and its window, e.g. 10;w=1", limit)
        else:
            policy = Policy(None, first, window)
    left = _number(remaining.strip(), limit=MAX_QUOTA) if remaining is not None else None
    if remaining is not None and left is None:
        _warn_once("RateLimit-Remaining", "not a non-negative number", remaining)
    seconds = _number(reset.strip()) if reset is not None else None
    if reset is not None and seconds is None:
        _warn_once("RateLimit-Reset", "not a non-negative number of seconds", reset)
    return Reading(policy=policy, remaining=left, reset=seconds if left is not None else None)


def read_rate_limit(headers: Mapping[str, str]) -> Reading | None:
    """What the response's rate-limit fields say, or ``None`` if it has none (then nothing changes).

    :param headers: the response headers (any mapping; names are matched case-insensitively).
    """
    fields = {name.lower(): value for name, value in headers.items() if name.lower().startswith("ratelimit")}
    if not fields:
        return None
    try:
        if "ratelimit-policy" in fields or "ratelimit" in fields:
            reading = _read_fields(fields.get("ratelimit-policy"), fields.get("ratelimit"))
        else:
            reading = _read_older_fields(
                fields.get("ratelimit-limit"), fields.get("ratelimit-remaining"), fields.get("ratelimit-reset")
            )
    except Exception as error:  # a hint must never fail a request
        _warn_once("RateLimit", f"unreadable ({type(error).__name__})", repr(fields))
        return None
    return reading if reading != Reading() else None
