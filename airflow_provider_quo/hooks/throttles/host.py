"""The host backend: one budget for every process on this host that uses the same key and base URL.

The shared :class:`~airflow_provider_quo.hooks.throttles.pacing.Pacing` is 56 bytes in a state file (120 with the rest),
read and written under an exclusive ``flock`` on that file, kept open (0.5 us a lock, against about
90 us for the ``filelock`` package, which opens and checks its lock file every time). Times are in
the host's monotonic clock, which every process on the host shares; the file name includes the boot
id, so a state file left from before a reboot is never read. The name is a sha256 digest of the base
URL and the key: the key itself is never written anywhere.
"""

from __future__ import annotations

import fcntl
import math
import os
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import astuple
from pathlib import Path

from airflow_provider_quo.hooks.ratelimit_headers import Reading
from airflow_provider_quo.hooks.throttles.pacing import PacedThrottle, Pacing
from airflow_provider_quo.hooks.throttles.stated import StatedBudget

#: Environment variable naming the directory of the state files (default: a per-user temp directory).
STATE_DIR_ENV = "QUO_THROTTLE_DIR"
#: A slot or pause further ahead than this is a leftover from an earlier clock, and is forgotten.
STALE_AHEAD_SECONDS = 3600.0
#: The :class:`Pacing`'s fields, then hosts (a cache of the Redis backend's host count).
_STATE = struct.Struct("<7d")
#: In the state file's name: a file of another layout (an older release) is never read.
_LAYOUT = "v2"
#: After the pacing: this host's identity for the Redis backend's host count (8 random bytes), then the
#: :class:`~airflow_provider_quo.hooks.throttles.stated.StatedBudget`.
_HOST_ID_AT, _HOST_ID_SIZE = _STATE.size, 8
_STATED_AT = _HOST_ID_AT + _HOST_ID_SIZE


def state_dir() -> Path:
    """The directory of the state files: ``$QUO_THROTTLE_DIR``, else ``<tmp>/airflow-provider-quo-<uid>``."""
    configured = os.environ.get(STATE_DIR_ENV)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / f"airflow-provider-quo-{uid}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:36]
    except OSError:
        return "boot"


class HostThrottle(PacedThrottle):
    """Spaces the requests of every process on this host that uses one key at ``rate`` per second.

    :param rate: requests per second; must be positive.
    :param digest: the key's digest (:func:`~airflow_provider_quo.hooks.throttles.process.key_digest`).
    :param clock: the host's monotonic clock (injectable for tests).
    :param sleep: a fake sleep for tests.
    :param directory: where the state file lives (default :func:`state_dir`).
    :param ceiling: whether ``rate`` was set by the user (a ceiling) or is a default the server may raise.
    """

    def __init__(
        self,
        rate: float,
        digest: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        directory: Path | None = None,
        ceiling: bool = True,
    ) -> None:
        super().__init__(rate, sleep=sleep, ceiling=ceiling)
        folder = directory or state_dir()
        name = f"{digest[:32]}-{_boot_id()[:8]}-{_LAYOUT}"
        self.path = folder / f"{name}.state"
        self._thread_lock = threading.Lock()
        self._clock = clock
        self._fd: int | None = None
        self._fd_pid = 0

    def _descriptor(self) -> int:
        if self._fd is None or self._fd_pid != os.getpid():  # a forked child needs its own open file
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """This process's threads one at a time, then this host's processes one at a time."""
        with self._thread_lock:
            descriptor = self._descriptor()
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _read(self, now: float) -> tuple[Pacing, float]:
        raw = os.pread(self._descriptor(), _STATE.size, 0)
        if len(raw) < _STATE.size:
            return Pacing(), 0.0
        *fields, hosts = _STATE.unpack(raw)
        pacing = Pacing(*fields)
        if max(pacing.next_slot, pacing.paused_until, pacing.share_at) > now + STALE_AHEAD_SECONDS:
            return Pacing(), hosts
        return (pacing if 0 < pacing.share <= 1 else Pacing()), hosts

    def _write(self, pacing: Pacing, hosts: float) -> None:
        raw = _STATE.pack(*astuple(pacing), hosts)
        os.pwrite(self._descriptor(), raw, 0)

    def _update(self, change: Callable[[Pacing, float], None]) -> None:
        """Apply ``change(pacing, now)`` to the shared state under both locks."""
        with self._locked():
            now = self._clock()
            pacing, hosts = self._read(now)
            change(pacing, now)
            self._write(pacing, hosts)

    def _budget_now(self) -> float:
        return self._clock()

    def _read_stated(self) -> StatedBudget:
        return StatedBudget.unpack(os.pread(self._descriptor(), StatedBudget.SIZE, _STATED_AT))

    def _reserve(self) -> tuple[float, float, float]:
        with self._locked():
            now = self._clock()
            pacing, hosts = self._read(now)
            self._stated = self._read_stated()
            slot = pacing.reserve(now, 1.0 / self.rate_at(now))
            self._write(pacing, hosts)
            return slot, now, pacing.shifted

    def _learn(self, reading: Reading, counted: bool) -> tuple[StatedBudget, float]:
        with self._locked():
            stated = self._read_stated()
            pause = stated.observe(reading, self._clock(), counted=counted)
            os.pwrite(self._descriptor(), stated.pack(), _STATED_AT)
            return stated, pause

    def host_id(self) -> str:
        """This host's identity, as the host budget knows it: random bytes kept in the state file, so every
        process sharing the file (this host's budget) has the same one, and no other host has it."""
        with self._locked():
            raw = os.pread(self._descriptor(), _HOST_ID_SIZE, _HOST_ID_AT)
            if len(raw) < _HOST_ID_SIZE or not any(raw):  # zeros before it read as a fresh pacing
                raw = os.urandom(_HOST_ID_SIZE)
                os.pwrite(self._descriptor(), raw, _HOST_ID_AT)
            return raw.hex()

    def _follow(self, slot: float, seen_shift: float) -> tuple[float, float, float]:
        with self._locked():
            pacing, hosts = self._read(self._clock())
            before = pacing.shifted
            moved, shifted = pacing.follow(slot, seen_shift)
            if shifted != before:  # this caller moved the queue: the only change follow makes
                self._write(pacing, hosts)
            return moved, shifted, pacing.paused_until

    def pause(self, seconds: float) -> None:
        """Hold every process on this host back for at least ``seconds`` (e.g. after a 429).

        :param seconds: how long no request may start.
        """
        self._update(lambda pacing, now: pacing.pause(now, seconds))

    def _rewind(self) -> None:
        self._update(lambda pacing, now: pacing.rewind(now))

    def slow_down(self) -> None:
        """Lower the effective rate of every process on this host after a 429; it recovers gradually."""
        self._update(lambda pacing, now: pacing.slow_down(now))

    def remembered_hosts(self) -> int:
        """How many hosts the Redis backend last saw sharing the key (0: never seen)."""
        with self._locked():
            _, hosts = self._read(self._clock())
        return int(hosts) if math.isfinite(hosts) and hosts > 0 else 0

    def remember_hosts(self, hosts: int) -> None:
        """Keep the Redis backend's host count, for a process that starts while Redis is down.

        :param hosts: hosts seen sharing the key.
        """
        with self._locked():
            pacing, _ = self._read(self._clock())
            self._write(pacing, float(hosts))
