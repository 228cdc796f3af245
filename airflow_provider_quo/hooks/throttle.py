"""A thread-safe client-side throttle that spaces requests at the per-key rate limit."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces calls to at most ``rate`` per second across all threads that share it.

    Each :meth:`acquire` reserves the next free slot (slots are ``1 / rate`` apart) under a lock and
    then sleeps outside the lock until that slot, so waiting threads do not block each other and the
    long-run rate never exceeds ``rate``. :meth:`pause` pushes every future slot back, which is how a
    429 from the server slows down all threads at once rather than only the one that saw it.

    :param rate: requests per second; must be positive.
    :param clock: monotonic clock in seconds (injectable for tests).
    :param sleep: sleep function (injectable for tests).
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"requests_per_second must be a positive number, got {rate!r}")
        self.rate = float(rate)
        self.interval = 1.0 / self.rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")
        self._paused_until = float("-inf")

    def acquire(self) -> float:
        """Block until this caller may send one request; return the seconds waited.

        A caller whose reserved slot falls inside a :meth:`pause` that began while it waited
        queues again behind the pause.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                slot = max(now, self._next_slot, self._paused_until)
                self._next_slot = slot + self.interval
            if slot > now:
                self._sleep(slot - now)
                waited += slot - now
            with self._lock:
                if slot >= self._paused_until:  # no pause began that covers this slot
                    return waited

    def pause(self, seconds: float) -> None:
        """Hold every caller back for at least ``seconds`` from now (e.g. after a 429).

        :param seconds: how long no request may start.
        """
        with self._lock:
            until = self._clock() + seconds
            if until > self._paused_until:
                self._paused_until = until
                self._next_slot = max(self._next_slot, until)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}/s)"


_shared: dict[tuple[str, float], RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_rate_limiter(api_key: str, base_url: str, rate: float) -> RateLimiter:
    """The process-wide limiter for one API key and host, so every hook using that key shares one budget.

    The key is only hashed, never stored.

    :param api_key: the API key whose budget this is.
    :param base_url: the API base URL (separate budgets per host).
    :param rate: requests per second.
    """
    digest = hashlib.sha256(f"{base_url}\0{api_key}".encode()).hexdigest()
    with _shared_lock:
        limiter = _shared.get((digest, rate))
        if limiter is None:
            limiter = _shared[(digest, rate)] = RateLimiter(rate)
        return limiter
