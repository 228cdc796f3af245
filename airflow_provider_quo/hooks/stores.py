"""Where one key's :class:`~airflow_provider_quo.hooks.budget.BudgetState` lives, thin storage with no rules:
in this process (:class:`ProcessStore`), on this host (:class:`HostStore`, the default) or on every host
(:class:`RedisStore`, with the connection extra ``rate_limit_url``). Each keeps only a sha256 digest of the
base URL and the key, never the key.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_quo.exceptions import QuoError
from airflow_provider_quo.hooks.budget import BudgetState, BudgetStore, Result
from airflow_provider_quo.redaction import redact_url

log = logging.getLogger(__name__)

#: Environment variable naming the directory of the host's state files (default: a per-user temp directory).
STATE_DIR_ENV = "QUO_THROTTLE_DIR"
#: Seconds a Redis command may take before the budget falls back to this host.
REDIS_TIMEOUT = 0.5
#: While falling back, Redis is tried again this often.
REDIS_RETRY_SECONDS = 5.0
#: An idle Redis key expires after this many seconds.
REDIS_TTL_SECONDS = 600

#: This boot's id, in every state file's name: a file from before a reboot holds another clock's times.
try:
    BOOT_ID = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
except OSError:  # not Linux
    BOOT_ID = "boot"

#: Sets the key only if it still holds what the caller read (``ARGV[1]``, empty: absent); always returns TIME.
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1]) or ''
local ok = 0
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  ok = 1
end
local t = redis.call('TIME')
return {ok, current, t[1], t[2]}
"""


def key_digest(api_key: str, base_url: str) -> str:
    """The sha256 of the base URL and the key: what every store keeps instead of the key."""
    return hashlib.sha256(f"{base_url}\0{api_key}".encode()).hexdigest()


class ProcessStore:
    """The state in this process, for its threads.

    :param clock: a monotonic clock (a fake one in tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.now = clock
        self.state = BudgetState()
        self._lock = threading.Lock()

    def update(self, change: Callable[[BudgetState, float], Result]) -> Result:
        """:meth:`~airflow_provider_quo.hooks.budget.BudgetStore.update` under the lock."""
        with self._lock:
            return change(self.state, self.now())


class HostStore:
    """The state in a small file every process on this host shares, under ``flock``, in the host's monotonic
    clock (the file's name holds :data:`BOOT_ID`).

    :param digest: the key's digest (:func:`key_digest`).
    :param directory: where the file lives (default: ``$QUO_THROTTLE_DIR``, else ``<tmp>/airflow-provider-quo-<uid>``,
        made private to this user).
    :param clock: the host's monotonic clock (a fake one in tests).
    """

    def __init__(self, digest: str, *, directory: Path | None = None, clock: Callable[[], float] = time.monotonic):
        if directory is None:
            configured = os.environ.get(STATE_DIR_ENV)
            directory = Path(configured or Path(tempfile.gettempdir()) / f"airflow-provider-quo-{os.getuid()}")
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / f"{digest[:32]}-{BOOT_ID}-v3.state"
        self.now = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def update(self, change: Callable[[BudgetState, float], Result]) -> Result:
        """:meth:`~airflow_provider_quo.hooks.budget.BudgetStore.update` under this process's lock and the file's
        ``flock``."""
        with self._lock:
            if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
                self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            descriptor = self._fd
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                raw = os.pread(descriptor, 256, 0)
                state = BudgetState.unpack(raw)
                result = change(state, self.now())
                packed = state.pack()
                if packed != raw:
                    os.pwrite(descriptor, packed, 0)
                    if len(raw) > len(packed):  # a longer file would never unpack: every step would start afresh
                        os.ftruncate(descriptor, len(packed))
                return result
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)


class RedisStore:
    """The state in one Redis key every host shares, in the Redis server's clock; one tiny script makes each
    write a compare-and-set. While Redis fails, it logs once, keeps the budget on this host (the server's
    statements still show the other hosts' spending) and tries Redis again every :data:`REDIS_RETRY_SECONDS`.

    :param client: a ``redis.Redis`` client.
    :param digest: the key's digest (:func:`key_digest`).
    :param fallback: the store used while Redis fails (this host's).
    :param shown_url: the Redis URL with its password masked, for the log.
    """

    def __init__(self, client: Any, digest: str, *, fallback: BudgetStore, shown_url: str) -> None:
        self.client = client
        self.key = f"quo:budget:{digest}"
        self.fallback = fallback
        self.shown_url = shown_url
        self._script = client.register_script(_COMPARE_AND_SET)
        self._offset: float | None = None  # Redis time minus this host's monotonic clock, from the last answer
        self._cached = b""
        self._down_until = -1.0
        self._warned = False  # about this outage
        import redis

        self._errors = (redis.exceptions.RedisError, OSError)

    @classmethod
    def from_url(cls, url: str, digest: str, *, fallback: BudgetStore) -> RedisStore:
        """A store on the Redis at ``url``, which is not contacted before the first update; the other
        parameters are the constructor's.

        :raises QuoError: if the redis package is not installed.
        """
        try:
            import redis
        except ImportError:
            raise QuoError(
                f"rate_limit_url {redact_url(url)!r} needs the redis package: pip install 'airflow-provider-quo[redis]'"
            ) from None
        client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
        return cls(client, digest, fallback=fallback, shown_url=redact_url(url))

    def _compare_and_set(self, new: bytes) -> bool:
        """Write ``new`` if Redis still holds what was read last; either way, learn what it holds and its time."""
        ok, current, seconds, micros = self._script(keys=[self.key], args=[self._cached, new, REDIS_TTL_SECONDS])
        self._offset = int(seconds) + int(micros) / 1e6 - time.monotonic()
        self._cached = new if ok else (current or b"")
        return bool(ok)

    def update(self, change: Callable[[BudgetState, float], Result]) -> Result:
        """Read, change and compare-and-set the state until no other writer came between."""
        if time.monotonic() < self._down_until:
            return self.fallback.update(change)
        try:
            if self._offset is None:
                self._compare_and_set(b"-")  # never what Redis holds: only reads it, and its clock
            while True:
                state = BudgetState.unpack(self._cached)
                result = change(state, time.monotonic() + (self._offset or 0.0))
                if self._compare_and_set(state.pack()):
                    self._warned = False
                    return result
        except self._errors as error:  # the budget stays on this host meanwhile
            self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
            if not self._warned:
                self._warned = True
                log.warning(
                    "Redis at %s failed (%s); sharing the key's budget on this host only until it answers "
                    "(tried again every %gs)",
                    self.shown_url,
                    type(error).__name__,
                    REDIS_RETRY_SECONDS,
                )
            return self.fallback.update(change)


_stores: dict[tuple[str, str], BudgetStore] = {}
_stores_lock = threading.Lock()


def key_store(api_key: str, base_url: str, rate_limit_url: str | None) -> BudgetStore:
    """Where the key's budget lives, one per key, base URL and backend in this process: Redis with
    ``rate_limit_url``, else a file on this host (this process alone if no file can be kept)."""
    digest = key_digest(api_key, base_url)
    with _stores_lock:
        store = _stores.get((digest, rate_limit_url or ""))
        if store is not None:
            return store
        try:
            store = HostStore(digest)
        except OSError as error:
            log.warning(
                "Cannot keep the key's budget in a file on this host (%s); sharing it in this process only", error
            )
            store = ProcessStore()
        if rate_limit_url:
            store = RedisStore.from_url(rate_limit_url, digest, fallback=store)
        _stores[(digest, rate_limit_url or "")] = store
        return store
