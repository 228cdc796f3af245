"""Server-side rate limit: one budget per API key, stated on every response as Quo states it.

Two ways to enforce ``rate`` requests per second per key:

- :class:`TokenBuckets` (``"bucket"``, the default): capacity ``max(rate, 1)``, refilled continuously;
- :class:`FixedWindows` (``"fixed"``): at most ``rate`` requests in each one-second window of the clock,
  exactly what the rate-limit header fields state (``q`` per ``w``-second window).

Either can play **another client** of the key that spends ``other_rate`` requests per second of the
same budget (evenly spaced, as a CRM sync would), so a client must share what is left. Both answer
:meth:`~TokenBuckets.stated`: the header fields of the key's budget, ``RateLimit-Policy`` and
``RateLimit`` (draft-ietf-httpapi-ratelimit-headers, as Quo sends them).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

#: The two ways a per-key budget is enforced.
WINDOW_KINDS = ("bucket", "fixed")

#: What a kind keeps per key.
_PerKey = TypeVar("_PerKey")


class _KeyBudgets(Generic[_PerKey]):
    """What both kinds share: the rate, the other client, the lock, what each key has spent (``_keys``),
    :meth:`allow` and the stated header fields."""

    kind = ""

    def __init__(
        self, rate: float | None, clock: Callable[[], float] = time.monotonic, other_rate: float = 0.0
    ) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"rate_limit must be a positive number or None, got {rate!r}")
        if not 0 <= other_rate < math.inf:
            raise ValueError(f"other_client must be a number of requests per second >= 0, got {other_rate!r}")
        self.rate = rate
        self.other_rate = float(other_rate)
        self._clock = clock
        self._origin = clock()
        self._lock = threading.Lock()
        self._keys: dict[str, _PerKey] = {}

    def _other_events(self, since: float, until: float) -> int:
        """Requests the other client sends in ``[since, until)``: one every ``1 / other_rate`` seconds."""
        if self.other_rate <= 0:
            return 0

        def sent_by(instant: float) -> int:
            return math.floor(max(0.0, (instant - self._origin) * self.other_rate + 0.5))

        return max(0, sent_by(until) - sent_by(since))

    def _state(self, key: str, now: float) -> tuple[float, float]:
        """``(remaining, seconds until reset)`` of ``key``'s budget at ``now`` (with the lock held)."""
        raise NotImplementedError

    def _take(self, key: str, now: float) -> bool:
        """Spend one request of ``key``'s budget at ``now`` if any is left (with the lock held)."""
        raise NotImplementedError

    def allow(self, key: str) -> bool:
        """Spend one request of ``key``'s budget; ``False`` if it is spent (answer 429).

        :param key: the API key.
        """
        if self.rate is None:
            return True
        with self._lock:
            return self._take(key, self._clock())

    def stated(self, key: str) -> dict[str, str]:
        """The rate-limit header fields of ``key``'s budget now (none without a limit).

        :param key: the API key.
        """
        if self.rate is None:
            return {}
        with self._lock:
            remaining, reset = self._state(key, self._clock())
        name = '"per-second"'
        return {
            "RateLimit-Policy": f"{name};q={self.rate:g};w=1",
            "RateLimit": f"{name};r={max(0, math.floor(remaining))};t={max(0, math.ceil(reset - 1e-9))}",
        }


class TokenBuckets(_KeyBudgets[tuple[float, float]]):
    """A token bucket per key: ``rate`` tokens per second, capacity ``max(rate, 1)``, starting full.

    :param rate: requests per second per key, or ``None`` for no limit.
    :param clock: monotonic clock in seconds (injectable for tests).
    :param other_rate: requests per second another client of the key spends.
    """

    kind = "bucket"  # per key: (tokens, last seen)

    @property
    def capacity(self) -> float:
        """Burst size: ``max(rate, 1)`` tokens."""
        return max(self.rate or 0.0, 1.0)

    def _tokens(self, key: str, now: float) -> float:
        """Refill ``key``'s bucket to ``now`` and take what the other client spent meanwhile."""
        tokens, last = self._keys.get(key, (self.capacity, self._origin))
        tokens = min(self.capacity, tokens + max(0.0, now - last) * (self.rate or 0.0))
        for _ in range(self._other_events(last, now)):
            if tokens >= 1.0:
                tokens -= 1.0
        self._keys[key] = (tokens, now)
        return tokens

    def _state(self, key: str, now: float) -> tuple[float, float]:
        tokens = self._tokens(key, now)
        return tokens, (self.capacity - tokens) / (self.rate or 1.0)

    def _take(self, key: str, now: float) -> bool:
        """Take one token from ``key``'s bucket, unless it is empty."""
        tokens = self._tokens(key, now)
        allowed = tokens >= 1.0
        self._keys[key] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


class FixedWindows(_KeyBudgets[tuple[int, float, float]]):
    """At most ``rate`` requests per key in each one-second window of the clock (windows start on whole
    seconds since the budget was made), the other client's included.

    :param rate: requests per window (second) per key, or ``None`` for no limit.
    :param clock: monotonic clock in seconds (injectable for tests).
    :param other_rate: requests per second another client of the key spends.
    """

    kind = "fixed"  # per key: (window, spent in it, last seen)

    def _spent(self, key: str, now: float) -> tuple[int, float]:
        """``(window, requests spent in it)`` for ``key`` at ``now``, the other client's included."""
        window = math.floor(now - self._origin)
        start = self._origin + window
        current, spent, last = self._keys.get(key, (window, 0.0, start))
        if current != window:
            spent, last = 0.0, start
        for _ in range(self._other_events(max(last, start), now)):
            if spent < (self.rate or 0.0):
                spent += 1
        self._keys[key] = (window, spent, now)
        return window, spent

    def _state(self, key: str, now: float) -> tuple[float, float]:
        window, spent = self._spent(key, now)
        return (self.rate or 0.0) - spent, self._origin + window + 1 - now

    def _take(self, key: str, now: float) -> bool:
        """Count one request of ``key`` in the current window, unless the window is spent."""
        window, spent = self._spent(key, now)
        allowed = spent + 1 <= (self.rate or 0.0)
        self._keys[key] = (window, spent + 1 if allowed else spent, now)
        return allowed


def key_budgets(rate: float | None, window: str = "bucket", other_rate: float = 0.0) -> TokenBuckets | FixedWindows:
    """The per-key budget of a simulator.

    :param rate: requests per second per key, or ``None`` for no limit.
    :param window: ``"bucket"`` (token bucket) or ``"fixed"`` (fixed one-second windows).
    :param other_rate: requests per second another client of the key spends.
    :raises ValueError: naming the value, for another ``window`` or a bad rate.
    """
    if window == "bucket":
        return TokenBuckets(rate, other_rate=other_rate)
    if window == "fixed":
        return FixedWindows(rate, other_rate=other_rate)
    raise ValueError(f"rate_limit_window must be one of {WINDOW_KINDS}, got {window!r}")
