"""Unit-test fixtures: a fake monotonic clock, hooks whose key budget never really sleeps, fresh budget stores per
test, the summary's keys."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from airflow_provider_quo.hooks import stores as stores_module
from airflow_provider_quo.hooks.budget import KeyBudget
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.stores import STATE_DIR_ENV, ProcessStore

#: The fake budget's rate: high, and not the 1e5/s of ``quo_conn``, so a test can tell which budget a hook used.
UNTHROTTLED_RATE = 1e6
#: No test waits longer than this on the fake clock.
MAX_FAKE_SLEEP_SECONDS = 3600.0


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
            if self.now > 1000.0 + MAX_FAKE_SLEEP_SECONDS:  # fail, rather than nap through an unbounded pause
                raise AssertionError(f"slept {self.now - 1000.0:g} s on the fake clock: a wait without bound")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def fresh_budget_stores(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no key budget learnt: an empty store cache and its own host-state directory
    (a pause or a stated limit from another test never reaches this one)."""
    monkeypatch.setattr(stores_module, "_stores", {})
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path_factory.mktemp("budget")))


def fake_budget(clock: FakeClock, rate: float = UNTHROTTLED_RATE) -> KeyBudget:
    """A key budget in this process on ``clock``: its waits land in ``clock.sleeps`` and move the clock."""
    return KeyBudget(ProcessStore(clock=clock), configured=rate, clock=clock, sleep=clock.sleep)


@pytest.fixture
def unthrottle(clock: FakeClock) -> Callable[[QuoHook], QuoHook]:
    """Give a hook its own fast key budget on the test's ``clock``; every wait lands in ``clock.sleeps``."""

    def install(hook: QuoHook) -> QuoHook:
        hook.budget = fake_budget(clock)
        return hook

    return install


@pytest.fixture
def hook(quo_conn: str, unthrottle: Callable[[QuoHook], QuoHook]) -> QuoHook:
    """A ``quo_default`` hook on the ``quo_conn`` connection, paced only on the fake ``clock``."""
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
