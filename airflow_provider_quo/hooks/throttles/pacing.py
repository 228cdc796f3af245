"""What every throttle backend shares: slot arithmetic, the back-off after 429s and the interruptible wait.

Requests are paced, not burst: each caller reserves the next free slot (slots ``1 / rate`` apart) and
waits for it. A pause (a 429, or a window the server states spent) holds every slot back
(:meth:`Pacing.pause`); the first caller whose slot it covers moves the whole queue back, spacing kept, so
that its slot starts when the pause ends (:meth:`Pacing.follow`): a short pause costs its overlap, not
a slot. A 429 the server does not explain also halves the effective rate (:meth:`Pacing.slow_down`),
which then climbs back linearly: additive increase, multiplicative decrease, on the state every user of
the key shares.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_quo.exceptions import QuoNotSentError
from airflow_provider_quo.hooks.ratelimit_headers import Reading
from airflow_provider_quo.hooks.throttles.stated import StatedBudget

log = logging.getLogger(__name__)

#: After a 429 the effective rate is multiplied by this ...
DECREASE = 0.5
#: ... but never below this share of the key's budget ...
MIN_SHARE = 0.2
#: ... and climbs back by this share of the budget per second.
RECOVERY_PER_SECOND = 0.05
#: A caller whose slot was reserved at a rate that has since fallen by more than this share queues again.
RESCHEDULE_ON_DROP = 0.25
#: 429s closer together than this count as one (the requests already under way when the first arrived).
DEBOUNCE_SECONDS = 2.0


@dataclass
class Pacing:
    """The shared state of one key's budget, in the backend's clock (seconds).

    :param next_slot: when the next unreserved slot starts.
    :param paused_until: no slot starts before this (set by a 429).
    :param share: the effective rate as a share of the budget when last lowered.
    :param share_at: when ``share`` was last lowered.
    :param shifted: how far pauses have moved the queue back, in all (a caller adds what grew while it
        waited to its slot).
    :param moved_for: the pause (its ``paused_until``) the queue was last moved for.
    """

    next_slot: float = -math.inf
    paused_until: float = -math.inf
    share: float = 1.0
    share_at: float = -math.inf
    shifted: float = 0.0
    moved_for: float = -math.inf

    def current_share(self, now: float) -> float:
        """The effective share of the budget at ``now``, recovering linearly since the last 429."""
        return min(1.0, self.share + max(0.0, now - self.share_at) * RECOVERY_PER_SECOND)

    def reserve(self, now: float, interval: float) -> float:
        """Take the next free slot and return when it starts; the one after it is an effective interval later."""
        slot = max(now, self.next_slot, self.paused_until)
        self.next_slot = slot + interval / self.current_share(now)
        return slot

    def pause(self, now: float, seconds: float) -> None:
        """No slot starts within ``seconds`` from ``now`` (the slots reserved ahead move when their callers
        wake: :meth:`follow`)."""
        until = now + seconds
        if until > self.paused_until:
            self.paused_until = until
            self.next_slot = max(self.next_slot, until)

    def follow(self, slot: float, seen_shift: float) -> tuple[float, float]:
        """A waking caller's slot now: moved as far as the queue moved since it was reserved (``seen_shift``:
        :attr:`shifted` then). If a pause still covers it, it is the first slot the pause covers (slots wake
        in order): the queue moves back, itself included, so that it starts when the pause ends.

        :param slot: the slot as reserved.
        :param seen_shift: :attr:`shifted` when it was reserved.
        :return: ``(slot, shifted)`` now.
        """
        slot += self.shifted - seen_shift
        if slot < self.paused_until and self.moved_for < self.paused_until:
            gap = self.paused_until - slot
            self.shifted += gap
            self.next_slot += gap
            self.moved_for = self.paused_until
            slot = self.paused_until
        return slot, self.shifted

    def rewind(self, now: float) -> None:
        """Give up the slots reserved ahead (their callers queue again, at a rate that has fallen): new ones
        start when any pause ends, and the given-up queue is not moved for that pause (:meth:`follow`)."""
        self.next_slot = min(self.next_slot, max(now, self.paused_until))
        self.moved_for = self.paused_until

    def slow_down(self, now: float) -> None:
        """Lower the effective rate after a 429 (once per :data:`DEBOUNCE_SECONDS`)."""
        if now - self.share_at >= DEBOUNCE_SECONDS:
            self.share = max(MIN_SHARE, self.current_share(now) * DECREASE)
            self.share_at = now


class PacedThrottle(ABC):
    """A throttle that reserves slots in some shared :class:`Pacing` and waits for them.

    Subclasses say where the state lives: :meth:`_reserve` takes a slot atomically, :meth:`_follow` applies
    :meth:`Pacing.follow` atomically when the caller wakes (a slot a pause still covers queues again).

    The rate follows what the server states (:meth:`observe`, shared like the pacing; see
    :mod:`.stated`): its limit, less what other clients of the key spend.

    :param rate: the connection's ``requests_per_second`` (or the default); must be positive.
    :param sleep: a fake sleep for tests; by default the wait is real and ends early when the caller's
        ``stop`` event is set.
    :param ceiling: whether the user set ``rate``: then it is a ceiling no statement lifts; otherwise it is
        the budget only until the server states one.
    """

    def __init__(self, rate: float, *, sleep: Callable[[float], None] | None = None, ceiling: bool = True) -> None:
        if not rate > 0:
            raise ValueError(f"requests_per_second must be a positive number, got {rate!r}")
        self.configured = float(rate)
        self.ceiling = ceiling
        self._sleep = sleep
        #: This process's copy of the shared :class:`StatedBudget` (refreshed by each backend).
        self._stated = StatedBudget()
        self._announced = 0.0

    def _budget_now(self) -> float:
        """Now, in the clock of the backend's shared state."""
        return time.monotonic()

    def rate_at(self, now: float) -> float:
        """The key's rate at ``now`` (backend clock) from the last known statement.

        :param now: the backend's clock.
        """
        return self._stated.key_rate(now, configured=self.configured, ceiling=self.ceiling)

    @property
    def rate(self) -> float:
        """The key's budget now, in requests per second."""
        return self.rate_at(self._budget_now())

    @property
    def interval(self) -> float:
        """``1 / rate``: the spacing of slots at full speed."""
        return 1.0 / self.rate

    @abstractmethod
    def _learn(self, reading: Reading, counted: bool) -> tuple[StatedBudget, float]:
        """Apply ``reading`` to the shared :class:`StatedBudget` atomically; return it and the pause it asks.

        :param reading: what a response stated.
        :param counted: whether the server counted that request.
        """

    def observe(self, reading: Reading, *, counted: bool = True) -> None:
        """Learn from what a response stated about the key's budget (shared with every user of the key).

        :param reading: the response's rate-limit fields.
        :param counted: whether the server counted that request (not a 429).
        """
        before = self.rate
        self._stated, pause = self._learn(reading, counted)
        if pause > 0:
            self.pause(pause)
        if self.rate < before * (1 - RESCHEDULE_ON_DROP):
            self._rewind()  # the callers waiting for those slots queue again (see acquire)
        stated = reading.policy.rate if reading.policy is not None else 0.0
        if stated and stated != self._announced:
            self._announced = stated
            self._announce(stated)

    def _announce(self, stated: float) -> None:
        if stated == self.configured:
            return
        if not self.ceiling:
            log.warning(
                "Quo states this key's limit as %g requests/s, not the %g/s assumed: pacing at the server's "
                "(the connection sets no requests_per_second)",
                stated,
                self.configured,
            )
        elif stated > self.configured:
            log.warning(
                "Quo states this key's limit as %g requests/s; the connection's requests_per_second (%g) caps it",
                stated,
                self.configured,
            )
        else:
            log.warning(
                "Quo states this key's limit as %g requests/s, below the connection's requests_per_second (%g): "
                "pacing at the server's",
                stated,
                self.configured,
            )

    @abstractmethod
    def _reserve(self) -> tuple[float, float, float]:
        """Reserve a slot; return ``(slot, now, shifted)``: the backend's clock, and :attr:`Pacing.shifted`."""

    @abstractmethod
    def _follow(self, slot: float, seen_shift: float) -> tuple[float, float, float]:
        """:meth:`Pacing.follow` on the shared state; return ``(slot, shifted, paused_until)``."""

    @abstractmethod
    def pause(self, seconds: float) -> None:
        """Hold every caller back for at least ``seconds`` from now (e.g. after a 429).

        :param seconds: how long no request may start.
        """

    @abstractmethod
    def _rewind(self) -> None:
        """Give up the slots reserved ahead, in the shared state (:meth:`Pacing.rewind`)."""

    @abstractmethod
    def slow_down(self) -> None:
        """Lower the effective rate for every user of the key after a 429; it recovers gradually."""

    def acquire(self, stop: threading.Event | None = None) -> float:
        """Block until this caller may send one request; return the seconds waited.

        :param stop: the run's stop event: once it is set, the wait ends and nothing may be sent.
        :raises QuoNotSentError: if ``stop`` is set before the slot came.
        """
        waited = 0.0
        while True:
            _raise_if_stopped(stop)
            slot, now, shifted = self._reserve()
            if slot <= now:  # no wait: no pause can have begun since the reservation
                return waited
            reserved_rate = self.rate
            delay = slot - now
            while delay > 0:  # the wait, and as much again as pauses meanwhile moved the queue back
                self._wait(delay, stop)
                waited += delay
                _raise_if_stopped(stop)
                moved, shifted, paused_until = self._follow(slot, shifted)
                delay, slot = moved - slot, max(slot, moved)  # never earlier (a shared state found reset)
            # Queue again if a pause still covers the slot, or the key's rate fell (a lowered limit, another
            # client): the slots queued at the old rate are given up rather than sent too fast.
            if slot >= paused_until and self.rate >= reserved_rate * (1 - RESCHEDULE_ON_DROP):
                return waited

    def _wait(self, seconds: float, stop: threading.Event | None) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rate={self.configured:g}/s)"


def _raise_if_stopped(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise QuoNotSentError("not sent: the run stopped before this request's turn in the rate limit")
