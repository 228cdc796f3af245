"""The Redis backend: one budget for every worker on every host, kept in a Redis server (``rate_limit_url``).

One Lua script does each step atomically on the server, in the server's clock (``TIME``), so hosts need
no synchronised clocks: reserve a slot, follow the queue when waking (:meth:`~.pacing.Pacing.follow`),
pause, slow down. Keys are ``quo:throttle:<sha256 of base URL and key>`` (a hash, expiring when idle)
and ``...:hosts`` (hosts seen in the last 30 s, each by the random identity its host budget keeps in its
state file, so hosts that share a name, such as containers, still count apart) and ``...:stated`` (what
the server states about the key's budget, :mod:`.stated`); the API key is never sent to Redis.

If Redis fails (refused, gone, or slower than :data:`SOCKET_TIMEOUT`), the throttle logs one warning
and falls back to the host backend at the key's budget divided by the number of hosts last seen
sharing it (remembered in the host's state file, so a process starting during the outage knows it
too), and tries Redis again every :data:`RETRY_SECONDS`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from airflow_provider_quo.hooks.ratelimit_headers import Reading
from airflow_provider_quo.hooks.throttles.host import HostThrottle
from airflow_provider_quo.hooks.throttles.pacing import (
    DEBOUNCE_SECONDS,
    DECREASE,
    MIN_SHARE,
    RECOVERY_PER_SECOND,
    PacedThrottle,
)
from airflow_provider_quo.hooks.throttles.stated import StatedBudget

log = logging.getLogger(__name__)

#: Seconds a Redis command may take before the throttle falls back to the host backend.
SOCKET_TIMEOUT = 0.5
#: While falling back, Redis is tried again this often.
RETRY_SECONDS = 5.0
#: Idle keys expire after this many seconds.
KEY_TTL_SECONDS = 600
#: A host counts as sharing the key if it reserved a slot within this many seconds.
HOSTS_WINDOW_SECONDS = 30
#: What a Redis failure can raise.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)

SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op, value = ARGV[1], tonumber(ARGV[2])
local recovery, minimum, decrease, debounce = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local s = redis.call('HMGET', KEYS[1], 'next', 'paused', 'share', 'share_at', 'shifted', 'moved_for')
local nxt, paused = tonumber(s[1]) or 0, tonumber(s[2]) or 0
local share, share_at, shifted = tonumber(s[3]) or 1, tonumber(s[4]) or 0, tonumber(s[5]) or 0
local moved_for = tonumber(s[6]) or 0
local current = math.min(1, share + math.max(0, now - share_at) * recovery)
if op == 'reserve' then
  local slot = math.max(now, nxt, paused)
  redis.call('HSET', KEYS[1], 'next', tostring(slot + value / current))
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], now, ARGV[8])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[9]))
  redis.call('EXPIRE', KEYS[2], ttl)
  local hosts = redis.call('ZCARD', KEYS[2])
  return {tostring(slot), tostring(now), hosts, tostring(shifted), redis.call('HGETALL', KEYS[3])}
elseif op == 'follow' then
  local slot = value + shifted - tonumber(ARGV[10])
  if slot < paused and moved_for < paused then
    local gap = paused - slot
    shifted, nxt, slot = shifted + gap, nxt + gap, paused
    redis.call('HSET', KEYS[1], 'shifted', tostring(shifted), 'next', tostring(nxt), 'moved_for', tostring(paused))
  end
  return {tostring(slot), tostring(shifted), tostring(paused)}
elseif op == 'pause' then
  if now + value > paused then
    redis.call('HSET', KEYS[1], 'paused', tostring(now + value), 'next', tostring(math.max(nxt, now + value)))
    redis.call('EXPIRE', KEYS[1], ttl)
  end
elseif op == 'rewind' then
  redis.call('HSET', KEYS[1], 'next', tostring(math.min(nxt, math.max(now, paused))), 'moved_for', tostring(paused))
elseif op == 'slow' then
  if now - share_at >= debounce then
    redis.call('HSET', KEYS[1], 'share', tostring(math.max(minimum, current * decrease)), 'share_at', tostring(now))
    redis.call('EXPIRE', KEYS[1], ttl)
  end
end
return {tostring(paused), tostring(now)}
"""


class RedisThrottle(PacedThrottle):
    """Spaces the requests of every worker that uses one key at ``rate`` per second, through Redis.

    :param rate: the key's budget in requests per second.
    :param digest: the key's digest (never the key).
    :param client: a ``redis.Redis`` client (built from ``rate_limit_url`` by the factory).
    :param shown_url: the URL with its password masked, for log lines.
    :param clock: monotonic clock for the retry schedule (injectable for tests).
    :param sleep: a fake sleep for tests.
    :param ceiling: whether ``rate`` was set by the user (a ceiling) or is a default the server may raise.
    """

    def __init__(
        self,
        rate: float,
        digest: str,
        client: Any,
        *,
        shown_url: str,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        ceiling: bool = True,
    ) -> None:
        super().__init__(rate, sleep=sleep, ceiling=ceiling)
        self.digest = digest
        self.shown_url = shown_url
        self._stated_key = f"quo:throttle:{digest}:stated"
        self._keys = [f"quo:throttle:{digest}", f"quo:throttle:{digest}:hosts", self._stated_key]
        self._client = client
        self._script = client.register_script(SCRIPT)
        self._clock = clock
        self._lock = threading.Lock()
        self._local = HostThrottle(rate, digest, clock=clock, sleep=sleep, ceiling=ceiling)
        self._host = _host_identity(self._local)
        self._fallback: HostThrottle | None = None
        self._retry_at = -math.inf
        self._offset = 0.0  # Redis TIME minus this process's monotonic clock
        self.hosts = 0

    def _call(self, op: str, value: float, seen_shift: float = 0.0) -> list[Any]:
        args = [op, repr(value), RECOVERY_PER_SECOND, MIN_SHARE, DECREASE, DEBOUNCE_SECONDS, KEY_TTL_SECONDS]
        result: list[Any] = self._script(
            keys=self._keys, args=[*args, self._host, HOSTS_WINDOW_SECONDS, repr(seen_shift)]
        )
        return result

    def _budget_now(self) -> float:
        return self._clock() + self._offset

    def _reserve(self) -> tuple[float, float, float]:
        """Reserve a slot at the rate last known; the reply brings the shared statement back for the next."""
        slot, now, hosts, shifted, *stated = self._call("reserve", self.interval)
        if stated:
            pairs = stated[0]
            self._stated = StatedBudget.from_fields(_decoded(dict(zip(pairs[::2], pairs[1::2], strict=True))))
        self._offset = float(now) - self._clock()
        self._redis_answered(int(hosts))
        return float(slot), float(now), float(shifted)

    def _learn(self, reading: Reading, counted: bool) -> tuple[StatedBudget, float]:
        """Update the shared record in one optimistic transaction (retried if another worker wrote first)."""
        with self._client.pipeline() as pipe:
            for _ in range(5):
                try:
                    pipe.watch(self._stated_key)
                    seconds, micros = pipe.time()
                    now = seconds + micros / 1e6
                    stated = StatedBudget.from_fields(_decoded(pipe.hgetall(self._stated_key)))
                    pause = stated.observe(reading, now, counted=counted)
                    pipe.multi()
                    pipe.hset(self._stated_key, mapping=stated.as_fields())
                    pipe.expire(self._stated_key, KEY_TTL_SECONDS)
                    pipe.execute()
                except redis.WatchError:
                    continue
                self._offset = now - self._clock()
                return stated, pause
        return self._stated, 0.0  # too busy: this sample is dropped

    def observe(self, reading: Reading, *, counted: bool = True) -> None:
        """Learn from a response through Redis (nothing is learnt while falling back: the fallback keeps its
        share of the key's last known rate).

        :param reading: the response's rate-limit fields.
        :param counted: whether the server counted that request.
        """
        if self._fallback_now() is not None:
            return
        try:
            super().observe(reading, counted=counted)
        except REDIS_ERRORS as error:
            self._fall_back(error)

    def _follow(self, slot: float, seen_shift: float) -> tuple[float, float, float]:
        moved, shifted, paused = self._call("follow", slot, seen_shift)
        return float(moved), float(shifted), float(paused)

    def _redis_answered(self, hosts: int) -> None:
        with self._lock:
            if self._fallback is not None:
                self._fallback = None
                log.warning("Rate-limit server %s answers again: the key's budget is shared through it", self.shown_url)
            changed, self.hosts = hosts != self.hosts, hosts
        if changed:
            self._local.remember_hosts(hosts)

    def _fall_back(self, error: BaseException) -> HostThrottle:
        with self._lock:
            self._retry_at = self._clock() + RETRY_SECONDS
            if self._fallback is None:
                hosts = self.hosts or self._local.remembered_hosts() or 1
                self._fallback = HostThrottle(self.rate / hosts, self.digest, clock=self._clock, sleep=self._sleep)
                log.warning(
                    "Rate-limit server %s failed (%s); until it answers, this host's tasks share %.3g requests/s "
                    "(the key's %g/s over the %d host(s) last seen using it)",
                    self.shown_url,
                    type(error).__name__,
                    self._fallback.rate,
                    self.rate,
                    hosts,
                )
            return self._fallback

    def _fallback_now(self) -> HostThrottle | None:
        with self._lock:
            return self._fallback if self._clock() < self._retry_at else None

    def acquire(self, stop: threading.Event | None = None) -> float:
        """Block until this caller may send one request; return the seconds waited.

        :param stop: the run's stop event: once it is set, nothing may be sent.
        :raises QuoNotSentError: if ``stop`` is set before the slot came.
        """
        fallback = self._fallback_now()
        if fallback is None:
            try:
                return super().acquire(stop)
            except REDIS_ERRORS as error:
                fallback = self._fall_back(error)
        return fallback.acquire(stop)

    def pause(self, seconds: float) -> None:
        """Hold every worker back for at least ``seconds`` (e.g. after a 429).

        :param seconds: how long no request may start.
        """
        self._on_server_or_fallback("pause", seconds)

    def _rewind(self) -> None:
        self._call("rewind", 0.0)

    def slow_down(self) -> None:
        """Lower the effective rate of every worker after a 429; it recovers gradually."""
        self._on_server_or_fallback("slow", 0.0)

    def _on_server_or_fallback(self, op: str, seconds: float) -> None:
        fallback = self._fallback_now()
        if fallback is None:
            try:
                self._call(op, seconds)
                return
            except REDIS_ERRORS as error:
                fallback = self._fall_back(error)
        if op == "pause":
            fallback.pause(seconds)
        else:
            fallback.slow_down()


def _decoded(fields: dict[Any, Any]) -> dict[str, str]:
    """A Redis hash's names and values as strings."""

    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    return {text(name): text(value) for name, value in fields.items()}


def _host_identity(local: HostThrottle) -> str:
    """This host as the host budget knows it (its state file's random id); the host name's digest if the
    state file cannot be used."""
    try:
        return local.host_id()
    except OSError:
        return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16]
