"""The process backend: a thread-safe throttle shared by the threads of one process."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from airflow_provider_quo.hooks.ratelimit_headers import Reading
from airflow_provider_quo.hooks.throttles.pacing import PacedThrottle, Pacing
from airflow_provider_quo.hooks.throttles.stated import StatedBudget


class ProcessThrottle(PacedThrottle):
    """Spaces calls to at most ``rate`` per second across all threads that share it.

    Each :meth:`acquire` reserves the next free slot (slots ``1 / rate`` apart) under a lock and
    then sleeps outside the lock until that slot, so waiting threads do not block each other and the
    long-run rate never exceeds ``rate``. :meth:`pause` moves every future slot back, which is how a
    429 from the server slows down all threads at once rather than only the one that saw it.

    :param rate: requests per second; must be positive.
    :param clock: monotonic clock in seconds (injectable for tests).
    :param sleep: sleep function (injectable for tests); by default a real wait that a stop event ends.
    :param ceiling: whether ``rate`` was set by the user (a ceiling) or is a default the server may raise.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        ceiling: bool = True,
    ) -> None:
        super().__init__(rate, sleep=sleep, ceiling=ceiling)
        self._clock = clock
        self._lock = threading.Lock()
        self._pacing = Pacing()

    def _budget_now(self) -> float:
        return self._clock()

    def _reserve(self) -> tuple[float, float, float]:
        with self._lock:
            now = self._clock()
            return self._pacing.reserve(now, 1.0 / self.rate_at(now)), now, self._pacing.shifted

    def _learn(self, reading: Reading, counted: bool) -> tuple[StatedBudget, float]:
        with self._lock:
            pause = self._stated.observe(reading, self._clock(), counted=counted)
            return self._stated, pause

    def _follow(self, slot: float, seen_shift: float) -> tuple[float, float, float]:
        with self._lock:
            return *self._pacing.follow(slot, seen_shift), self._pacing.paused_until

    def pause(self, seconds: float) -> None:
        """Hold every caller back for at least ``seconds`` from now (e.g. after a 429).

        :param seconds: how long no request may start.
        """
        with self._lock:
            self._pacing.pause(self._clock(), seconds)

    def _rewind(self) -> None:
        with self._lock:
            self._pacing.rewind(self._clock())

    def slow_down(self) -> None:
        """Lower the effective rate after a 429; it climbs back to ``rate`` within seconds."""
        with self._lock:
            self._pacing.slow_down(self._clock())


_shared: dict[tuple[str, float], ProcessThrottle] = {}
_shared_lock = threading.Lock()


def key_digest(api_key: str, base_url: str) -> str:
    """The sha256 of the base URL and the key: what every backend stores instead of the key.

    :param api_key: the API key.
    :param base_url: the API base URL (separate budgets per host).
    """
    return hashlib.sha256(f"{base_url}\0{api_key}".encode()).hexdigest()


def shared_process_throttle(api_key: str, base_url: str, rate: float) -> ProcessThrottle:
    """The process-wide limiter for one API key and host, so every hook using that key shares one budget.

    The key is only hashed, never stored.

    :param api_key: the API key whose budget this is.
    :param base_url: the API base URL (separate budgets per host).
    :param rate: requests per second.
    """
    digest = key_digest(api_key, base_url)
    with _shared_lock:
        limiter = _shared.get((digest, rate))
        if limiter is None:
            limiter = _shared[(digest, rate)] = ProcessThrottle(rate)
        return limiter
