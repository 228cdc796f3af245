"""Server-side rate limit: one token bucket per API key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBuckets:
    """A token bucket per key: ``rate`` tokens per second, capacity ``max(rate, 1)``, starting full.

    :param rate: requests per second per key, or ``None`` for no limit.
    :param clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"rate_limit must be a positive number or None, got {rate!r}")
        self.rate = rate
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    @property
    def capacity(self) -> float:
        """Burst size: ``max(rate, 1)`` tokens."""
        return max(self.rate or 0.0, 1.0)

    def allow(self, key: str) -> bool:
        """Take one token from ``key``'s bucket; ``False`` if it is empty (answer 429).

        :param key: the API key.
        """
        if self.rate is None:
            return True
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed
