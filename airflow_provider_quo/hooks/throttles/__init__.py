"""The key's budget: one :class:`Throttle` interface, one module per backend, and the factory that picks one.

Backends, one module each:

- :mod:`.host` (the default): every process on this host that uses the same key and base URL shares one
  budget, through a small state file under ``flock`` (LocalExecutor, mapped tasks, several
  ``airflow tasks test`` at once);
- :mod:`.redis` (connection extra ``rate_limit_url``): every worker on every host shares it through Redis;
- :mod:`.process`: one process's threads (:class:`~.process.ProcessThrottle`, also each task's own cap).

:mod:`.pacing` holds what they share: the slot arithmetic, the 429 back-off and the interruptible wait.

A task's ``requests_per_second`` caps its share in front of the key's budget (:class:`CappedThrottle`).
The key's budget follows what the server states in its rate-limit header fields (:meth:`Throttle.observe`;
:mod:`.stated`), under the connection's ``requests_per_second`` if set.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Protocol

from airflow_provider_quo.exceptions import QuoError
from airflow_provider_quo.hooks.ratelimit_headers import Reading
from airflow_provider_quo.hooks.throttles.process import ProcessThrottle, key_digest, shared_process_throttle
from airflow_provider_quo.redaction import redact_url

log = logging.getLogger(__name__)


class Throttle(Protocol):
    """What the hook needs from a throttle, whatever keeps its state."""

    @property
    def rate(self) -> float:
        """The budget now, in requests per second."""

    @property
    def interval(self) -> float:
        """``1 / rate``: the spacing of slots at full speed."""

    def acquire(self, stop: threading.Event | None = None) -> float:
        """Block until one request may be sent; return the seconds waited.

        :param stop: the run's stop event; once set, the wait ends with
            :class:`~airflow_provider_quo.exceptions.QuoNotSentError` and nothing is sent.
        """

    def pause(self, seconds: float) -> None:
        """Let no request of this key start within ``seconds`` (after a 429).

        :param seconds: how long.
        """

    def slow_down(self) -> None:
        """Lower the key's effective rate after a 429; it recovers gradually."""

    def observe(self, reading: Reading, *, counted: bool = True) -> None:
        """Learn from what a response stated about the key's budget (its limit, what is left).

        :param reading: the response's rate-limit fields.
        :param counted: whether the server counted that request (not a 429).
        """


class CappedThrottle:
    """A task's own cap (``requests_per_second`` on an operator) in front of the key's shared budget.

    :param key: the key's shared throttle.
    :param cap: the task's own pacing (shared by the hooks of this process with the same key and cap).
    """

    def __init__(self, key: Throttle, cap: ProcessThrottle) -> None:
        self.key = key
        self.cap = cap

    @property
    def rate(self) -> float:
        """The lower of the task's cap and the key's budget."""
        return min(self.cap.rate, self.key.rate)

    @property
    def interval(self) -> float:
        """``1 / rate``."""
        return 1.0 / self.rate

    def acquire(self, stop: threading.Event | None = None) -> float:
        """Wait for this task's next slot, then for the key's; return the seconds waited.

        :param stop: the run's stop event.
        """
        return self.cap.acquire(stop) + self.key.acquire(stop)

    def pause(self, seconds: float) -> None:
        """Pause the key's budget (every task using it).

        :param seconds: how long.
        """
        self.key.pause(seconds)

    def slow_down(self) -> None:
        """Slow the key's budget down (every task using it)."""
        self.key.slow_down()

    def observe(self, reading: Reading, *, counted: bool = True) -> None:
        """Let the key's budget learn from a response (the task's cap is the task's own).

        :param reading: the response's rate-limit fields.
        :param counted: whether the server counted that request.
        """
        self.key.observe(reading, counted=counted)

    def __repr__(self) -> str:
        return f"CappedThrottle(cap={self.cap.rate:g}/s, key={self.key!r})"


_throttles: dict[tuple[str, str, float, bool, str], Throttle] = {}
_throttles_lock = threading.Lock()


def _redis_throttle(rate: float, digest: str, url: str, ceiling: bool) -> Throttle:
    try:
        import redis

        from airflow_provider_quo.hooks.throttles.redis import SOCKET_TIMEOUT, RedisThrottle
    except ImportError:
        raise QuoError(
            f"rate_limit_url {redact_url(url)!r} needs the redis package: pip install 'airflow-provider-quo[redis]'"
        ) from None
    client = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
    return RedisThrottle(rate, digest, client, shown_url=redact_url(url), ceiling=ceiling)


def _host_throttle(rate: float, digest: str, ceiling: bool) -> Throttle:
    try:
        from airflow_provider_quo.hooks.throttles.host import HostThrottle  # POSIX only (fcntl)

        throttle = HostThrottle(rate, digest, ceiling=ceiling)
        throttle.remembered_hosts()  # opens the state file now, so a read-only or full disk shows here
    except (OSError, ImportError) as error:  # ImportError: no fcntl (not POSIX)
        log.warning(
            "Cannot keep the key's budget in a file on this host (%s: %s); sharing it only within this process",
            type(error).__name__,
            error,
        )
        return ProcessThrottle(rate, ceiling=ceiling)
    return throttle


def build_throttle(
    api_key: str,
    base_url: str,
    rate: float,
    *,
    rate_limit_url: str | None = None,
    task_rate: float | None = None,
    ceiling: bool = True,
) -> Throttle:
    """The throttle for one key: shared by every hook in this process that uses the same key, base URL,
    rate and backend, and through the backend by other processes (and hosts, with Redis).

    Nothing is sent over the network here: a Redis connection is made on first use (the host backend opens
    its small state file here).

    :param api_key: the API key (only its digest is kept).
    :param base_url: the API base URL (separate budgets per host).
    :param rate: the key's budget in requests per second.
    :param rate_limit_url: ``redis://`` or ``rediss://`` URL of a Redis server to share the budget
        across hosts; ``None`` for the host backend.
    :param task_rate: this task's cap, if lower than the budget.
    :param ceiling: whether the user set ``rate`` (a ceiling no server statement lifts); if not, ``rate`` is
        the budget only until the server states the key's limit.
    """
    if not rate > 0:
        raise ValueError(f"requests_per_second must be a positive number, got {rate!r}")
    digest = key_digest(api_key, base_url)
    backend = "redis" if rate_limit_url else "host"
    url_digest = hashlib.sha256((rate_limit_url or "").encode()).hexdigest()
    with _throttles_lock:
        key = (backend, digest, rate, ceiling, url_digest)
        shared = _throttles.get(key)
        if shared is None:
            if rate_limit_url:
                shared = _redis_throttle(rate, digest, rate_limit_url, ceiling)
            else:
                shared = _host_throttle(rate, digest, ceiling)
            _throttles[key] = shared
    if task_rate is not None and (task_rate < rate or not ceiling):  # the server may raise the key's budget
        return CappedThrottle(shared, shared_process_throttle(api_key, base_url, task_rate))
    return shared
