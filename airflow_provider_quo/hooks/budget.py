"""The key's budget: pace to what the server states, and wait when it says the window is spent.

Quo states the key's budget on every response (undocumented; draft-ietf-httpapi-ratelimit-headers)::

    ratelimit-policy: "per-second"; q=10; w=1     (q requests per w-second window)
    ratelimit: "per-second"; r=9; t=1            (r left after this request, t seconds until the window resets)

Every process and host that uses one key shares one small :class:`BudgetState`, kept by a store
(:mod:`.stores`: this process, a file on this host, or Redis). The rules, all here:

1. **Pace.** Callers take slots ``1 / rate`` apart. The rate is the connection's ``requests_per_second``
   until the server states ``q / w``; then the lower of the two (the stated one alone when the connection
   sets none), less what other clients of the key spend, at 99 %: exactly a fixed window's quota still
   draws 429s as requests drift across a window's edge.
2. **Wait when the server says so.** ``r = 0``, or a 429, pauses every caller until the window ends
   (``Retry-After`` when a 429 gives one). Slots reserved before a pause or a change of rate are given up:
   their callers queue again when their turn comes, or a window on (slots far ahead at a rate since risen).
3. **Learn the windows' edges.** ``t`` is whole seconds; but a window starts after the latest request
   counted in the one before was sent, and before the first response showing it arrived: intersected
   window after window, the edges are known to about the latency. A new window shows as ``r`` rising: by
   any amount in the answer to a request sent after the lowest ``r`` arrived, else by more than
   reordering explains (answers to requests in flight together may come back in any order).
4. **Learn what others spend**, once per window: the server counted ``q - r`` (its lowest ``r``), or, when
   the window's start went unseen, the fall of ``r`` from its first response; this key's own responses in
   it are ours, the rest is other clients'. The estimate follows a rise at once; a fall (by more than one
   request, in a window that was not spent) by half per window, or at once to one request above the count
   when that is lower (the count misses at most the others' last requests).

A 429 from a server that states nothing pauses the key for :data:`UNSTATED_PAUSE_SLOTS` slots.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import Protocol, TypeVar

from airflow_provider_quo.exceptions import QuoNotSentError
from airflow_provider_quo.hooks.api import Reading

log = logging.getLogger(__name__)

#: Pace at this share of what the server leaves.
SAFETY = 0.99
#: A stated limit (and what others were seen to spend) is forgotten this long after the last statement.
STATED_TTL_SECONDS = 300.0
#: A 429 with no rate-limit fields and no ``Retry-After`` pauses the key for this many slots.
UNSTATED_PAUSE_SLOTS = 5
#: A rise of ``r`` by more than this share of the quota (or 2) opens a new window (smaller rises are reordering).
NEW_WINDOW_RISE = 0.1
#: What others spend is followed up at once, and down by this share of the difference per window.
OTHERS_FALL = 0.5


@dataclass
class BudgetState:
    """The one small state every user of a key shares, in its store's clock (seconds).

    :param next_slot: when the next free slot starts.
    :param paused_until: no slot starts before this.
    :param epoch: bumped whenever the slots reserved ahead are given up (their callers queue again).
    :param quota: the stated ``q`` (0: none stated).
    :param window: the stated ``w``.
    :param stated_at: when the server last stated its policy.
    :param lowest: the lowest ``r`` seen in the current window (-1: none yet).
    :param lowest_at: when the response showing it arrived.
    :param own: this key's responses counted in the current window.
    :param opened_by: when the request that opened the current window was sent.
    :param opened_r: the ``r`` the window is counted from: ``q - 1`` when its start was seen (``r`` rose, or
        it is the first), else the ``r`` its first response showed (what came before may be this key's own).
    :param last_sent: when the latest request counted in the current window was sent.
    :param start_lo: the current window started after this ...
    :param start_hi: ... and at the latest at this (both sharpened window after window).
    :param others: requests per second other clients spend, averaged over windows.
    """

    next_slot: float = -math.inf
    paused_until: float = -math.inf
    epoch: float = 0.0
    quota: float = 0.0
    window: float = 1.0
    stated_at: float = -math.inf
    lowest: float = -1.0
    lowest_at: float = -math.inf
    own: float = 0.0
    opened_by: float = -math.inf
    opened_r: float = 0.0
    last_sent: float = -math.inf
    start_lo: float = -math.inf
    start_hi: float = -math.inf
    others: float = 0.0

    def rate(self, now: float, configured: float, ceiling: bool) -> float:
        """The rate to pace at.

        :param now: the store's clock.
        :param configured: the connection's ``requests_per_second`` (or the default).
        :param ceiling: whether the user set it (then no statement lifts it).
        """
        if not (self.quota > 0 and now - self.stated_at < STATED_TTL_SECONDS):
            return configured
        stated = self.quota / self.window
        room = max(stated * 0.05, (stated - self.others) * SAFETY)
        return min(room, configured) if ceiling else room

    def reserve(self, now: float, rate: float) -> float:
        """Take the next free slot; return when it starts."""
        slot = max(now, self.next_slot, self.paused_until)
        self.next_slot = slot + 1.0 / rate
        return slot

    def requeue(self, now: float) -> None:
        """Give up the slots reserved ahead: their callers queue again, from the end of any pause."""
        self.epoch += 1
        self.next_slot = max(now, self.paused_until)

    def pause(self, now: float, until: float) -> None:
        """No slot starts before ``until``; slots reserved ahead are given up."""
        if until > max(now, self.paused_until):
            self.paused_until = until
            self.requeue(now)

    def observe(self, reading: Reading, sent_at: float, now: float, counted: bool) -> None:
        """Learn from one response (sent at ``sent_at``, here at ``now``); pause if the window is spent.

        :param reading: what it stated.
        :param sent_at: when its request was sent.
        :param now: when it arrived.
        :param counted: whether the server counted the request (not a 429).
        """
        if reading.quota is not None and reading.window is not None:
            if now - self.stated_at >= STATED_TTL_SECONDS:  # what was learnt under a forgotten statement goes too
                self.lowest, self.others = -1.0, 0.0
            if (reading.quota, reading.window) != (self.quota, self.window):
                self.lowest = -1.0  # a window counted under another policy tells nothing of what others spend
            self.quota, self.window, self.stated_at = reading.quota, reading.window, now
        r = reading.remaining
        if r is None or sent_at < self.opened_by:  # nothing to count, or a straggler of an earlier window
            return
        edge_seen = (
            self.lowest < 0
            or r > self.lowest + max(2.0, self.quota * NEW_WINDOW_RISE)
            or (r > self.lowest and sent_at >= self.lowest_at)  # sent after the lowest was counted: r rose
        )
        if edge_seen or sent_at >= self.start_hi + self.window:
            self._open_window(sent_at, now, self.quota - 1 if edge_seen else r)
        if r <= self.lowest:
            self.lowest, self.lowest_at = r, now
        self.last_sent = max(self.last_sent, sent_at)
        self.own += 1 if counted else 0
        if r <= 0:  # this window is spent: nobody sends until it ends
            self.pause(now, min(self.start_hi + self.window, now + (reading.reset or math.inf)))

    def _open_window(self, sent_at: float, now: float, counted_from: float) -> None:
        """A response showed a new window: close the last one (what it counted beyond this key's own is
        other clients'), and sharpen the edges: one lies after the last window's latest send, and before now."""
        if self.lowest >= 0 and self.quota:
            self._count_others()
        low, high = max(self.last_sent, sent_at - self.window), now
        if self.start_hi > -math.inf:  # the known edges, moved by whole windows to this one
            shift = round(((low + high) - (self.start_lo + self.start_hi)) / 2 / self.window) * self.window
            if max(low, self.start_lo + shift) <= min(high, self.start_hi + shift):
                low, high = max(low, self.start_lo + shift), min(high, self.start_hi + shift)
        self.start_lo, self.start_hi = low, high
        self.lowest, self.own, self.opened_r = math.inf, 0.0, counted_from
        self.opened_by = self.last_sent = sent_at

    def _count_others(self) -> None:
        """What the closing window counted beyond this key's own, per second: the count fell by
        ``opened_r - lowest``, of which this key's own after the first are ``own - 1``. The estimate follows a
        rise at once; a fall by half per window, or at once to one request above the count when that is lower;
        but not a fall by one request in a window that was not spent: other clients' last requests may come
        after this key's last."""
        counted = self.quota if self.own == 0 and self.lowest <= 0 else self.opened_r - self.lowest - (self.own - 1)
        spent = max(0.0, counted) / self.window  # (a window spent with none of ours counted was all theirs)
        if spent > self.others:
            self.others = spent
        elif self.lowest <= 0 or spent < self.others - min(1.0 / self.window, self.others / 2):
            self.others = min(spent + 1.0 / self.window, self.others + (spent - self.others) * OTHERS_FALL)

    _RECORD = struct.Struct("<15d")

    def pack(self) -> bytes:
        """The state as 120 bytes (the host file, Redis)."""
        return self._RECORD.pack(*astuple(self))

    @classmethod
    def unpack(cls, raw: bytes | None) -> BudgetState:
        """A state from :meth:`pack`'s bytes; a fresh one for anything else.

        :param raw: the bytes, or ``None``.
        """
        if not raw or len(raw) != cls._RECORD.size:
            return cls()
        state = cls(*cls._RECORD.unpack(raw))
        return state if all(not math.isnan(value) for value in astuple(state)) else cls()


Result = TypeVar("Result")


class BudgetStore(Protocol):
    """Where a key's :class:`BudgetState` lives: one atomic step, in the store's own clock."""

    def update(self, change: Callable[[BudgetState, float], Result]) -> Result:
        """Apply ``change(state, now)`` atomically to the shared state and return what it returned.
        ``change`` may run more than once (a store may retry on contention).

        :param change: the step; it edits the state in place.
        """


def _raise_if_stopped(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise QuoNotSentError("not sent: the run stopped before this request's turn in the rate limit")


class KeyBudget:
    """One key's budget as a hook uses it: :meth:`acquire` before each request, :meth:`observe` after.

    :param store: where the shared state lives.
    :param configured: the connection's ``requests_per_second`` (or the default, 10).
    :param ceiling: whether the connection sets it (a ceiling no statement lifts).
    :param cap: this task's own limit in front of the key's (a hook's ``requests_per_second``).
    :param clock: this host's monotonic clock, and ``sleep`` its wait: fakes in tests (by default the
        wait is real, and ``stop`` ends it).
    """

    def __init__(
        self,
        store: BudgetStore,
        *,
        configured: float,
        ceiling: bool = True,
        cap: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.configured = configured
        self.ceiling = ceiling
        self.cap = cap
        self._clock = clock
        self._sleep = sleep
        self._cap_slots = BudgetState()  # this task's own queue: only its next_slot is used
        self._cap_lock = threading.Lock()
        self._announced = 0.0

    @property
    def rate(self) -> float:
        """The requests per second this hook sends at now."""
        rate = self.store.update(lambda state, now: state.rate(now, self.configured, self.ceiling))
        return min(rate, self.cap or math.inf)

    def acquire(self, stop: threading.Event | None = None) -> float:
        """Wait for this task's slot (if capped), then for the key's; return the seconds waited.

        :param stop: the run's stop event: once set, the wait ends with :class:`QuoNotSentError`.
        """
        _raise_if_stopped(stop)
        started = self._clock()
        if self.cap:
            with self._cap_lock:
                slot = self._cap_slots.reserve(started, self.cap)
            self._wait_until(slot, stop)
        while True:
            delay, epoch, window = self.store.update(self._reserve)
            slot = self._clock() + delay
            while (now := self._clock()) < slot:  # look again a window on: the rate may have risen meanwhile
                self._wait_until(min(slot, now + window), stop)
                if self.store.update(lambda state, now: state.epoch) != epoch:
                    break  # the slots reserved ahead were given up (a pause, a new rate): queue again
            else:
                return self._clock() - started

    def _reserve(self, state: BudgetState, now: float) -> tuple[float, float, float]:
        return state.reserve(now, state.rate(now, self.configured, self.ceiling)) - now, state.epoch, state.window

    def _wait_until(self, slot: float, stop: threading.Event | None) -> None:
        """Sleep until ``slot`` (this host's monotonic clock); a set ``stop`` ends the wait at once."""
        sleep = self._sleep or (stop.wait if stop is not None else time.sleep)
        while not (stop is not None and stop.is_set()) and (delay := slot - self._clock()) > 0:
            sleep(delay)
        _raise_if_stopped(stop)

    def observe(self, reading: Reading | None, elapsed: float, *, limited: bool, retry_after: float | None) -> None:
        """Learn from a response: its statement, and whether it was a 429 (``Retry-After`` honoured).

        :param reading: what it stated, or ``None``.
        :param elapsed: seconds since its request was sent.
        :param limited: whether it was a 429 (the request was not counted).
        :param retry_after: a 429's ``Retry-After`` in seconds, if any.
        """
        self.store.update(lambda state, now: self._learn(state, now, reading, now - elapsed, limited, retry_after))
        if reading is not None and reading.quota and reading.window:
            self._announce(reading.quota / reading.window)

    def _learn(
        self,
        state: BudgetState,
        now: float,
        reading: Reading | None,
        sent_at: float,
        limited: bool,
        retry_after: float | None,
    ) -> None:
        before = state.rate(now, self.configured, self.ceiling)
        if reading is not None:
            state.observe(reading, sent_at, now, counted=not limited)
        if limited and retry_after is not None:
            state.pause(now, now + retry_after)
        elif limited and (reading is None or reading.remaining is None):
            state.pause(now, now + UNSTATED_PAUSE_SLOTS / before)
        if state.rate(now, self.configured, self.ceiling) != before:  # slots reserved at the old rate are given up
            state.requeue(now)

    def _announce(self, stated: float) -> None:
        if stated in (self._announced, self.configured):
            return
        self._announced = stated
        if not self.ceiling:
            verdict = "pacing at the server's (the connection sets no requests_per_second)"
        elif stated > self.configured:
            verdict = "the connection's requests_per_second caps it"
        else:
            verdict = "below the connection's requests_per_second: pacing at the server's"
        log.warning(
            "Quo states this key's limit as %g requests/s (configured %g/s): %s", stated, self.configured, verdict
        )

    def __repr__(self) -> str:
        return f"KeyBudget({type(self.store).__name__}, configured={self.configured:g}/s)"
