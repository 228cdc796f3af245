"""Unit-test fixtures: a fake monotonic clock, hooks whose throttle never really sleeps, the summary's keys."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.throttles.process import ProcessThrottle

#: The fake throttle's rate: high, and not the 1e5/s of ``quo_conn``, so a test can tell which limiter a hook used.
UNTHROTTLED_RATE = 1e6


class FakeClock:
    """A monotonic clock that only moves when the fake sleep is called; ``sleeps`` records each sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()  # bulk marking sleeps from worker threads

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def unthrottle(clock: FakeClock) -> Callable[[QuoHook], QuoHook]:
    """Give a hook its own fast throttle on the test's ``clock``; every throttle wait lands in ``clock.sleeps``."""

    def install(hook: QuoHook) -> QuoHook:
        hook.rate_limiter = ProcessThrottle(UNTHROTTLED_RATE, clock=clock, sleep=clock.sleep)  # type: ignore[misc]
        return hook

    return install


@pytest.fixture
def hook(quo_conn: str, unthrottle: Callable[[QuoHook], QuoHook]) -> QuoHook:
    """A ``quo_default`` hook on the ``quo_conn`` connection, throttled only on the fake ``clock``."""
    return unthrottle(QuoHook())


@pytest.fixture
def summary_keys() -> list[str]:
    """The keys of a marking operator's summary, in the order it returns them."""
    return [
        "action",
        "dry_run",
        "requested",
        "marked_count",
        "not_found_count",
        "failed_count",
        "not_attempted_count",
        "invalid_count",
        "marked",
        "not_found",
        "failed",
        "failed_detail",
        "invalid",
        "elapsed_seconds",
    ]
