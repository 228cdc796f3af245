"""run_concurrently: every item once, first item alone, bounded concurrency, lazy input, early close."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airflow_provider_quo.hooks.quo import Outcome, run_concurrently


class Source:
    """An iterable that counts how many items were pulled from it."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.pulled = 0
        self.lock = threading.Lock()

    def __iter__(self) -> Iterator[int]:
        for n in range(self.count):
            if n == self.fail_at:
                raise RuntimeError(f"source failed at {n}")
            with self.lock:
                self.pulled += 1
            yield n


def double(n: int) -> int:
    if n % 7 == 3:
        raise KeyError(n)
    return n * 2


def test_every_item_yields_exactly_one_outcome():
    outcomes = list(run_concurrently(double, range(200), workers=8))

    assert sorted(o.item for o in outcomes) == list(range(200))
    for outcome in outcomes:
        assert isinstance(outcome, Outcome)
        if outcome.item % 7 == 3:
            assert isinstance(outcome.error, KeyError)
            assert outcome.result is None
        else:
            assert outcome.result == outcome.item * 2
            assert outcome.error is None


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_small_inputs(workers):
    assert [o.result for o in run_concurrently(lambda n: n + 1, [10], workers=workers)] == [11]
    assert sorted(o.result for o in run_concurrently(lambda n: n + 1, [1, 2], workers=workers)) == [2, 3]


def test_a_workers_function_sizes_the_pool_once_the_first_call_is_done():
    calls: list[object] = []
    together = threading.Barrier(3, timeout=10)

    def sized() -> int:
        calls.append("sized")
        return 3

    def call(n: int) -> str:
        calls.append(n)
        if n:
            together.wait()  # items 1-3 and 4-6 each run three at once, or the barrier breaks
        return threading.current_thread().name

    outcomes = list(run_concurrently(call, range(7), workers=sized))

    assert calls[:2] == [0, "sized"]
    assert calls.count("sized") == 1
    assert all(o.error is None for o in outcomes)
    assert {o.result for o in outcomes if o.item} == {"quo-bulk_0", "quo-bulk_1", "quo-bulk_2"}


def test_a_workers_function_that_answers_zero_is_refused_after_the_first_call():
    calls: list[int] = []
    outcomes = run_concurrently(calls.append, range(3), workers=lambda: 0)
    assert next(outcomes).item == 0
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        next(outcomes)
    assert calls == [0]


def test_empty_input_starts_nothing():
    calls = []
    before = threading.active_count()
    assert list(run_concurrently(calls.append, [], workers=4)) == []
    assert calls == []
    assert threading.active_count() == before


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_below_one(workers):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        list(run_concurrently(lambda n: n, [1], workers=workers))


def test_first_item_runs_alone_before_anything_else():
    source = Source(50)
    started: list[int] = []
    gen = run_concurrently(started.append, source, workers=8)
    before = threading.active_count()

    first = next(gen)

    assert first.item == 0
    assert started == [0]
    assert source.pulled == 1
    assert threading.active_count() == before  # no worker thread started yet
    rest = list(gen)
    assert len(rest) == 49
    assert sorted(started) == list(range(50))


def test_closing_after_the_first_item_sends_nothing_else():
    source = Source(50)
    calls: list[int] = []
    gen = run_concurrently(calls.append, source, workers=8)
    assert next(gen).item == 0
    gen.close()
    assert calls == [0]
    assert source.pulled == 1


def test_first_call_error_is_an_outcome_not_raised():
    def call(n: int) -> int:
        raise PermissionError("401")

    outcomes = list(run_concurrently(call, [1, 2, 3], workers=2))
    assert len(outcomes) == 3
    assert all(isinstance(o.error, PermissionError) for o in outcomes)


@pytest.mark.parametrize("workers", [1, 3, 8])
def test_concurrency_reaches_but_never_exceeds_workers(workers):
    lock = threading.Lock()
    active = 0
    peak = 0
    barrier = threading.Barrier(workers, timeout=10)

    def call(n: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            if n > 0:  # the first item runs alone; the rest meet in groups of `workers`
                barrier.wait()
        finally:
            with lock:
                active -= 1
        return n

    outcomes = list(run_concurrently(call, range(1 + workers * 6), workers=workers))
    assert all(o.error is None for o in outcomes)
    assert len(outcomes) == 1 + workers * 6
    assert peak == workers


def test_closing_early_stops_taking_items():
    workers = 4
    source = Source(10_000)
    calls = 0
    lock = threading.Lock()

    def call(n: int) -> int:
        nonlocal calls
        with lock:
            calls += 1
        return n

    gen = run_concurrently(call, source, workers=workers)
    taken = [next(gen) for _ in range(5)]
    gen.close()  # joins the workers
    calls_at_close, pulled_at_close = calls, source.pulled

    assert len(taken) == 5
    assert pulled_at_close <= 5 + 3 * workers
    assert calls_at_close <= pulled_at_close
    assert not [t for t in threading.enumerate() if t.name.startswith("quo-bulk")]
    assert (calls, source.pulled) == (calls_at_close, pulled_at_close)


def test_consumer_exception_stops_workers():
    source = Source(10_000)
    consumed = 0
    with pytest.raises(ZeroDivisionError):  # noqa: PT012
        for _ in run_concurrently(lambda n: n, source, workers=4):
            consumed += 1
            if consumed == 2:
                raise ZeroDivisionError
    assert source.pulled <= 2 + 3 * 4
    assert not [t for t in threading.enumerate() if t.name.startswith("quo-bulk")]


def test_error_in_items_iterable_propagates():
    source = Source(100, fail_at=10)
    seen = []
    with pytest.raises(RuntimeError, match="source failed at 10"):  # noqa: PT012
        for outcome in run_concurrently(lambda n: n, source, workers=4):
            seen.append(outcome.item)
    assert sorted(seen) == list(range(len(seen)))
    assert len(seen) <= 10


def test_error_on_first_item_propagates():
    with pytest.raises(RuntimeError, match="source failed at 0"):
        list(run_concurrently(lambda n: n, Source(5, fail_at=0), workers=4))


@pytest.mark.parametrize("workers", [1, 4, 16])
def test_large_generator_is_consumed_lazily(workers):
    total = 10_000
    source = Source(total)
    max_lead = 0
    count = 0
    seen = set()
    for outcome in run_concurrently(lambda n: n, source, workers=workers):
        count += 1
        seen.add(outcome.item)
        max_lead = max(max_lead, source.pulled - count)
    assert count == total
    assert len(seen) == total
    # pulled but not yet consumed: at most 2*workers queued plus one held by each worker
    assert max_lead <= 3 * workers


def test_outcome_is_frozen():
    outcome = Outcome(1, result=2)
    with pytest.raises(AttributeError):
        outcome.result = 3  # type: ignore[misc]


def test_stop_taking_set_during_first_call_runs_nothing_else():
    stop_taking = threading.Event()
    source = Source(50)

    def call(n: int) -> int:
        stop_taking.set()
        return n

    outcomes = list(run_concurrently(call, source, workers=4, stop_taking=stop_taking))
    assert [o.item for o in outcomes] == [0]
    assert source.pulled == 1


@pytest.mark.parametrize("workers", [1, 4])
def test_stop_taking_still_yields_every_call_under_way(workers):
    stop_taking = threading.Event()
    source = Source(10_000)
    called: list[int] = []
    lock = threading.Lock()

    def call(n: int) -> int:
        with lock:
            called.append(n)
        return n

    outcomes = []
    for outcome in run_concurrently(call, source, workers=workers, stop_taking=stop_taking):
        outcomes.append(outcome.item)
        if len(outcomes) == 5:
            stop_taking.set()

    assert 5 <= len(outcomes) <= 5 + 3 * workers
    assert sorted(outcomes) == sorted(called)  # nothing sent is left unaccounted for
    assert source.pulled == len(outcomes)
