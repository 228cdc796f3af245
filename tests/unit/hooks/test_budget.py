"""The key's budget (hooks/budget.py) on a fake clock: pacing at the stated ``q/w`` less what others spend, a pause
when the window is spent or on a 429, the connection's ceiling, the others-estimate; and the rate-limit header reader.

Nothing here sleeps: :class:`KeyBudget` and :class:`ProcessStore` share the test's clock, and every wait lands in
``clock.sleeps`` and moves the clock.
"""

from __future__ import annotations

import logging
import math
import threading
from unittest.mock import patch

import pytest
from requests.structures import CaseInsensitiveDict

from airflow_provider_quo.exceptions import QuoNotSentError
from airflow_provider_quo.hooks import api as api_module
from airflow_provider_quo.hooks import budget as budget_module
from airflow_provider_quo.hooks.api import Reading, read_rate_limit
from airflow_provider_quo.hooks.budget import (
    SAFETY,
    STATED_TTL_SECONDS,
    UNSTATED_PAUSE_SLOTS,
    BudgetState,
    KeyBudget,
)
from airflow_provider_quo.hooks.stores import ProcessStore
from tests.unit.conftest import FakeClock

QUO = {"ratelimit-policy": '"per-second"; q=10; w=1', "ratelimit": '"per-second"; r=9; t=1'}


def new_budget(
    clock: FakeClock, configured: float = 10, *, ceiling: bool = True, cap: float | None = None
) -> KeyBudget:
    store = ProcessStore(clock=clock)
    return KeyBudget(store, configured=configured, ceiling=ceiling, cap=cap, clock=clock, sleep=clock.sleep)


def state(budget: KeyBudget) -> BudgetState:
    store = budget.store
    assert isinstance(store, ProcessStore)
    return store.state


def stated(quota: float, remaining: float | None = None, reset: float | None = 1, window: float = 1) -> Reading:
    return Reading(quota=quota, window=window, remaining=remaining, reset=reset)


def answer(budget: KeyBudget, clock: FakeClock, reading: Reading | None, *, sent: float, arrived: float) -> None:
    """A response to a request sent at ``sent``, arriving at ``arrived`` (the clock is moved there)."""
    clock.now = arrived
    budget.observe(reading, arrived - sent, limited=False, retry_after=None)


def acquire_many(budget: KeyBudget, count: int) -> list[float]:
    """The seconds each of ``count`` back-to-back acquires waited."""
    return [budget.acquire() for _ in range(count)]


# -- pacing ----------------------------------------------------------------------------------------------------


def test_without_a_statement_calls_are_paced_at_the_connections_rate(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10)
    waits = acquire_many(budget, 5)
    assert waits == [0.0, *[pytest.approx(0.1)] * 4]
    assert budget.rate == 10


def test_idle_time_builds_no_burst(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10)
    budget.acquire()
    clock.now += 5.0
    assert acquire_many(budget, 3) == [0.0, pytest.approx(0.1), pytest.approx(0.1)]


def test_a_stated_limit_is_paced_at_its_q_over_w_when_the_connection_sets_none(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    answer(budget, clock, stated(30, 29), sent=clock.now, arrived=clock.now + 0.05)
    assert budget.rate == pytest.approx(30 * SAFETY)
    assert acquire_many(budget, 3)[1:] == [pytest.approx(1 / (30 * SAFETY))] * 2


def test_a_policy_of_q_per_w_seconds_is_paced_at_q_over_w(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    answer(budget, clock, stated(120, 100, window=60), sent=clock.now, arrived=clock.now + 0.05)
    assert budget.rate == pytest.approx(2 * SAFETY)


def test_a_limit_raised_mid_run_is_not_taken_for_another_client(clock: FakeClock) -> None:
    """The server raises the key's q from 10 to 60: the last window counted at q=10 says nothing of others."""
    budget = new_budget(clock, configured=10, ceiling=False)
    for window in range(3):
        feed_window(budget, clock, 1000.0 + window, ours=9, theirs_before_each=0)
    for window in range(3, 5):
        feed_window(budget, clock, 1000.0 + window, ours=50, theirs_before_each=0, quota=60)
        assert state(budget).others == 0
        assert budget.rate == pytest.approx(60 * SAFETY)


@pytest.mark.parametrize(("quota", "expected"), [(30, 10), (4, 4 * SAFETY)])
def test_the_connections_rate_is_a_ceiling_no_statement_lifts(clock: FakeClock, quota: float, expected: float) -> None:
    budget = new_budget(clock, configured=10, ceiling=True)
    answer(budget, clock, stated(quota, quota - 1), sent=clock.now, arrived=clock.now + 0.05)
    assert budget.rate == pytest.approx(expected)


def test_a_statement_is_forgotten_when_the_server_stops_making_it(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    answer(budget, clock, stated(30, 29), sent=clock.now, arrived=clock.now + 0.05)
    clock.now += STATED_TTL_SECONDS - 1
    assert budget.rate == pytest.approx(30 * SAFETY)
    clock.now += 2
    assert budget.rate == 10


def test_a_task_cap_spaces_this_task_below_the_keys_rate(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, cap=2)
    assert budget.rate == 2
    assert acquire_many(budget, 3) == [0.0, pytest.approx(0.5), pytest.approx(0.5)]


def test_two_budgets_on_one_store_share_the_slots(clock: FakeClock) -> None:
    one = new_budget(clock, configured=10)
    other = KeyBudget(one.store, configured=10, clock=clock, sleep=clock.sleep)
    assert one.acquire() == 0.0
    assert other.acquire() == pytest.approx(0.1)
    assert one.acquire() == pytest.approx(0.1)


def test_a_wait_reads_the_shared_state_once_a_window_not_while_it_sleeps(clock: FakeClock) -> None:
    budget = new_budget(clock)
    budget.observe(None, 0.0, limited=True, retry_after=3.0)
    with patch.object(ProcessStore, "update", autospec=True, side_effect=ProcessStore.update) as update:
        assert budget.acquire() == pytest.approx(3.0)
    assert clock.sleeps == [pytest.approx(1.0)] * 3
    assert update.call_count == 4, "the slot, then whether it still holds once a window"


def test_a_caller_whose_slot_was_given_up_while_it_slept_queues_again(clock: FakeClock) -> None:
    one = new_budget(clock)
    one.acquire()  # the next slot is 0.1 s away

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 1:  # another caller's 429 (Retry-After: 2) during this one's wait
            one.observe(None, 0.0, limited=True, retry_after=2.0)

    other = KeyBudget(one.store, configured=10, clock=clock, sleep=sleep)
    assert other.acquire() == pytest.approx(0.1 + 2.0)
    assert clock.sleeps == [pytest.approx(0.1), pytest.approx(1.0), pytest.approx(1.0)]


# -- stopping --------------------------------------------------------------------------------------------------


def test_a_stopped_run_sends_nothing(clock: FakeClock) -> None:
    budget, stop = new_budget(clock), threading.Event()
    stop.set()
    with pytest.raises(QuoNotSentError):
        budget.acquire(stop)
    assert clock.sleeps == []


def test_a_stop_during_the_wait_ends_it(clock: FakeClock) -> None:
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        stop.set()

    budget = KeyBudget(ProcessStore(clock=clock), configured=10, clock=clock, sleep=sleep)
    budget.observe(None, 0.0, limited=True, retry_after=30.0)
    with pytest.raises(QuoNotSentError, match="stopped"):
        budget.acquire(stop)
    assert len(clock.sleeps) == 1, "the wait ended when the stop was set"


# -- pauses ----------------------------------------------------------------------------------------------------


def test_r_0_pauses_every_caller_until_the_window_ends(clock: FakeClock) -> None:
    """The window opened with a response sent at 1000.0 and arriving at 1000.05: it ends by 1001.05, not at
    the r=0 response's arrival plus t."""
    budget = new_budget(clock, configured=10, ceiling=False)
    answer(budget, clock, stated(10, 9), sent=1000.0, arrived=1000.05)
    answer(budget, clock, stated(10, 0), sent=1000.35, arrived=1000.4)
    assert budget.acquire() == pytest.approx(0.65)


def test_r_0_pauses_at_most_t_seconds(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    answer(budget, clock, Reading(remaining=0, reset=2), sent=1000.0, arrived=1000.1)
    assert budget.acquire() == pytest.approx(1.0), "the window's end (1 s after it was seen) comes before t=2"
    budget = new_budget(clock, configured=10, ceiling=False)
    answer(budget, clock, stated(60, 0, reset=1, window=60), sent=clock.now, arrived=clock.now + 0.1)
    assert budget.acquire() == pytest.approx(1.0), "t=1 before a 60 s window's end"


def test_r_above_0_does_not_pause(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    for step, remaining in enumerate(range(9, 0, -1)):
        answer(budget, clock, stated(10, remaining), sent=1000.0 + step * 0.1, arrived=1000.05 + step * 0.1)
    assert state(budget).paused_until == -math.inf
    assert budget.acquire() == 0.0


def test_a_429_with_retry_after_pauses_the_key_that_long(clock: FakeClock) -> None:
    budget = new_budget(clock)
    budget.observe(None, 0.1, limited=True, retry_after=5.0)
    assert budget.acquire() == pytest.approx(5.0)
    assert budget.acquire() == pytest.approx(0.1), "then the pace again"


def test_a_429_stating_nothing_pauses_the_unstated_pause(clock: FakeClock) -> None:
    budget = new_budget(clock)
    budget.observe(None, 0.1, limited=True, retry_after=None)
    assert budget.acquire() == pytest.approx(UNSTATED_PAUSE_SLOTS / 10), "five slots at 10/s"


def test_a_429_stating_r_0_pauses_until_the_window_ends(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    answer(budget, clock, stated(10, 5), sent=1000.0, arrived=1000.05)
    clock.now = 1000.5
    budget.observe(stated(10, 0), 0.05, limited=True, retry_after=None)
    assert budget.acquire() == pytest.approx(0.55)


def test_a_429_stating_r_above_0_adds_no_pause_of_its_own(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    budget.observe(stated(10, 3), 0.05, limited=True, retry_after=None)
    assert state(budget).paused_until == -math.inf
    assert state(budget).own == 0, "a 429 was not counted by the server: not one of this key's requests"


def test_non_429_responses_never_pause(clock: FakeClock) -> None:
    budget = new_budget(clock)
    budget.observe(None, 0.1, limited=False, retry_after=None)
    budget.observe(None, 0.1, limited=False, retry_after=9.0)  # e.g. a 503's Retry-After: the retry waits, not the key
    assert state(budget).paused_until == -math.inf


def test_a_shorter_pause_never_cuts_a_longer_one(clock: FakeClock) -> None:
    budget = new_budget(clock)
    budget.observe(None, 0.0, limited=True, retry_after=5.0)
    budget.observe(None, 0.0, limited=True, retry_after=1.0)
    assert budget.acquire() == pytest.approx(5.0)


# -- requeue ---------------------------------------------------------------------------------------------------


def reserve_ahead(budget: KeyBudget, slots: int) -> None:
    """``slots`` callers take their slot and are still waiting for it."""
    rate = budget.configured
    for _ in range(slots):
        budget.store.update(lambda s, now: s.reserve(now, s.rate(now, rate, budget.ceiling)))


def test_a_pause_gives_up_the_slots_reserved_ahead(clock: FakeClock) -> None:
    budget = new_budget(clock)
    reserve_ahead(budget, 5)
    assert state(budget).next_slot == pytest.approx(clock.now + 0.5)
    budget.observe(None, 0.0, limited=True, retry_after=2.0)
    assert (state(budget).epoch, state(budget).next_slot) == (1, clock.now + 2.0)


def test_any_change_of_rate_requeues(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    reserve_ahead(budget, 5)
    answer(budget, clock, stated(8, 7), sent=clock.now, arrived=clock.now)  # 7.92/s: a drop, however small
    assert (state(budget).epoch, state(budget).next_slot) == (1, clock.now)
    reserve_ahead(budget, 5)
    answer(budget, clock, stated(60, 59), sent=clock.now, arrived=clock.now)  # a rise too
    assert (state(budget).epoch, state(budget).next_slot) == (2, clock.now)
    reserve_ahead(budget, 5)
    answer(budget, clock, stated(60, 58), sent=clock.now, arrived=clock.now)  # the same rate: the queue holds
    assert state(budget).epoch == 2


def test_a_waiting_caller_requeues_at_the_new_rate(clock: FakeClock) -> None:
    """A caller waiting for its slot when the rate falls takes a new one: the next caller is spaced at the new rate."""
    budget: KeyBudget

    def sleep_while_the_rate_falls(seconds: float) -> None:
        clock.sleep(seconds)
        budget.observe(stated(4, 3), 0.0, limited=False, retry_after=None)

    budget = KeyBudget(ProcessStore(clock=clock), configured=10, clock=clock, sleep=sleep_while_the_rate_falls)
    assert acquire_many(budget, 2) == [0.0, pytest.approx(0.1)]
    assert state(budget).epoch == 1
    assert budget.acquire() == pytest.approx(1 / (4 * SAFETY)), "0.1 s had it kept the slot reserved at 10/s"


def test_callers_queued_at_a_low_rate_take_a_risen_one_within_a_window(clock: FakeClock) -> None:
    """Callers queued at 2/s hold slots seconds ahead; when the rate rises (here the limit; in a fleet, what the
    others spend falls) they queue again within a window, not only when the old, slow slot comes (a queue of 20
    callers at 3/s once held a host at 3/s for 7 s after the rate had risen to 10/s)."""
    budget: KeyBudget

    def sleep_while_the_limit_rises(seconds: float) -> None:
        clock.sleep(seconds)
        budget.observe(stated(10, 9), 0.0, limited=False, retry_after=None)

    budget = KeyBudget(
        ProcessStore(clock=clock), configured=10, ceiling=False, clock=clock, sleep=sleep_while_the_limit_rises
    )
    answer(budget, clock, stated(2, 1), sent=clock.now, arrived=clock.now)
    reserve_ahead(budget, 10)  # 5 s of slots at 1.98/s
    assert budget.acquire() == pytest.approx(1.0), "a window on, it queues again at 9.9/s and goes at once"


# -- what the others spend -------------------------------------------------------------------------------------


def feed_window(
    budget: KeyBudget, clock: FakeClock, start: float, ours: int, theirs_before_each: int, quota: int = 10
) -> None:
    """One 1 s window of a key: ``ours`` requests spread over it, another client spending between them."""
    remaining = quota
    for n in range(ours):
        remaining -= theirs_before_each + 1
        sent = start + 0.05 + n * 0.8 / ours
        answer(budget, clock, stated(quota, remaining), sent=sent, arrived=sent + 0.05)


def test_what_another_client_spends_is_learnt_from_the_windows(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    for window in range(12):  # 4 of ours and 4 of theirs a window
        feed_window(budget, clock, 1000.0 + window, ours=4, theirs_before_each=1)
    assert state(budget).others == pytest.approx(4.0, abs=0.01)
    assert budget.rate == pytest.approx((10 - 4) * SAFETY, abs=0.01)


def test_a_rise_is_followed_at_once_and_one_request_unseen_lowers_nothing(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    feed_window(budget, clock, 1000.0, ours=8, theirs_before_each=0)
    feed_window(budget, clock, 1001.0, ours=4, theirs_before_each=1)  # 4 of theirs: learnt in one window
    feed_window(budget, clock, 1002.0, ours=3, theirs_before_each=1)  # their 4th came after our last
    feed_window(budget, clock, 1003.0, ours=4, theirs_before_each=0)  # none of theirs (closes with the next)
    assert state(budget).others == pytest.approx(4.0)
    feed_window(budget, clock, 1004.0, ours=4, theirs_before_each=0)  # ... down to one request above it
    assert state(budget).others == pytest.approx(1.0)


def test_a_window_whose_start_went_unseen_never_overstates_the_others(clock: FakeClock) -> None:
    """r rose by no more than reordering can explain: the start went unseen, so what the server counted before
    the window was known may be this key's own: only the fall after that is counted. Never more than the
    truth (an overstatement once slowed a task to a third of a raised limit); less is corrected as windows fill."""
    budget = new_budget(clock, configured=10, ceiling=False)
    feed_window(budget, clock, 1000.0, ours=4, theirs_before_each=0)  # ends at r=6
    feed_window(budget, clock, 1001.0, ours=4, theirs_before_each=1)  # 8, 6, 4, 2: a rise of 2 only
    feed_window(budget, clock, 1002.0, ours=8, theirs_before_each=0)
    assert 0 < state(budget).others <= 4.0


def test_the_estimate_recovers_when_the_other_client_stops(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    for window in range(12):
        feed_window(budget, clock, 1000.0 + window, ours=4, theirs_before_each=1)
    for window in range(12, 24):
        feed_window(budget, clock, 1000.0 + window, ours=8, theirs_before_each=0)
    assert state(budget).others < 0.01
    assert budget.rate == pytest.approx(10 * SAFETY, abs=0.01)


def test_when_the_other_client_stops_the_estimate_falls_to_one_request_in_a_window(clock: FakeClock) -> None:
    """Another host spent 6 of 10 and finished: the next window shows none of theirs. Falling by half per window
    (6, 3, 1.5, ...) held this host near 4/s, 7/s, 8.5/s for seconds; the count is off by one request at most
    (theirs after our last), so the estimate falls at once to one request, then by half."""
    budget = new_budget(clock, configured=10, ceiling=False)
    for window in range(4):
        feed_window(budget, clock, 1000.0 + window, ours=2, theirs_before_each=3)
    assert state(budget).others == pytest.approx(6.0)
    for window in range(4, 7):  # none of theirs: each window is counted when the next one opens
        feed_window(budget, clock, 1000.0 + window, ours=9, theirs_before_each=0)
    assert state(budget).others == pytest.approx(0.5)
    assert budget.rate == pytest.approx(9.5 * SAFETY)


def test_with_nobody_else_spending_the_estimate_stays_0(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    for window in range(6):
        feed_window(budget, clock, 1000.0 + window, ours=9, theirs_before_each=0)
    assert state(budget).others == 0
    assert budget.rate == pytest.approx(10 * SAFETY)


def test_out_of_order_responses_in_a_window_are_one_window(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    for window in range(6):
        for n, remaining in enumerate((9, 7, 8, 5, 6, 3, 4, 1, 2)):  # pairs in flight together, answered swapped
            sent = 1000.0 + window + 0.05 + n * 0.1
            answer(budget, clock, stated(10, remaining), sent=sent, arrived=sent + 0.15)
    assert state(budget).others == 0


def test_a_small_rise_after_the_lowest_arrived_is_a_new_window(clock: FakeClock) -> None:
    """At 4/s a window can end at r=1 and the next one's first answer show r=3: a rise too small to tell from
    reordering, but the request was sent after r=1 arrived, so the server counted it in a new window. The
    next r=0 pauses only until that window ends (a late edge once cost every other window)."""
    budget = new_budget(clock, configured=10, ceiling=False)
    for n, remaining in enumerate((3, 2, 1)):
        sent = 1000.3 + n * 0.25
        answer(budget, clock, stated(4, remaining), sent=sent, arrived=sent + 0.06)
    for n, remaining in enumerate((3, 2, 1, 0)):
        sent = 1001.05 + n * 0.25
        answer(budget, clock, stated(4, remaining), sent=sent, arrived=sent + 0.06)
    assert 1000.8 <= state(budget).start_lo <= 1001.0 <= state(budget).start_hi <= 1001.11
    assert state(budget).paused_until <= 1002.11


def test_a_key_another_client_spends_whole_leaves_this_one_a_floor(clock: FakeClock) -> None:
    """Every request of ours answered 429 with r=0: each waits for the window's end, and the others-estimate
    takes the whole quota; the pace falls to its floor (5 % of the stated rate), never to 0."""
    budget = new_budget(clock, configured=10, ceiling=False)
    for _ in range(4):
        budget.acquire()
        clock.now += 0.05
        budget.observe(stated(10, 0), 0.05, limited=True, retry_after=None)
    assert state(budget).others == 10
    assert budget.rate == pytest.approx(10 * 0.05)
    assert budget.acquire() == pytest.approx(0.95), "the pause to the window's end"
    assert budget.acquire() == pytest.approx(2.0), "then 1 / 0.5 per second"


def test_a_straggler_of_an_earlier_window_is_not_counted(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    answer(budget, clock, stated(10, 9), sent=1000.0, arrived=1000.05)
    answer(budget, clock, stated(10, 8), sent=1001.2, arrived=1001.25)  # a new window
    answer(budget, clock, stated(10, 0), sent=1000.9, arrived=1001.3)  # sent in the old window, answered late
    assert state(budget).lowest == 8
    assert state(budget).paused_until == -math.inf


def test_the_change_of_limit_is_logged_once(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    with caplog.at_level(logging.WARNING, logger=budget_module.log.name):
        for remaining in range(29, 20, -1):
            answer(budget, clock, stated(30, remaining), sent=clock.now, arrived=clock.now + 0.01)
    assert [r.getMessage() for r in caplog.records] == [
        "Quo states this key's limit as 30 requests/s (configured 10/s): pacing at the server's "
        "(the connection sets no requests_per_second)"
    ]


# -- the shared record -----------------------------------------------------------------------------------------


def test_the_state_packs_into_120_bytes_and_back(clock: FakeClock) -> None:
    budget = new_budget(clock, configured=10, ceiling=False)
    feed_window(budget, clock, 1000.0, ours=4, theirs_before_each=1)
    feed_window(budget, clock, 1001.0, ours=4, theirs_before_each=1)
    packed = state(budget).pack()
    assert len(packed) == 120
    assert BudgetState.unpack(packed) == state(budget)
    assert BudgetState.unpack(BudgetState().pack()) == BudgetState()


@pytest.mark.parametrize("raw", [None, b"", b"-", b"\x00" * 103, b"\x00" * 105, BudgetState(others=math.nan).pack()])
def test_anything_but_a_packed_state_reads_as_a_fresh_one(raw: bytes | None) -> None:
    assert BudgetState.unpack(raw) == BudgetState()


# -- the header reader -----------------------------------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_module, "_warned", set())


def test_what_quo_sends() -> None:
    assert read_rate_limit(QUO) == Reading(quota=10, window=1, remaining=9, reset=1)


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit-Policy": '"per-second";q=10;w=1', "RateLimit": '"per-second";r=9;t=1'},
        {"RATELIMIT-POLICY": "per-second; q=10; w=1", "RATELIMIT": "per-second; r=9; t=1"},  # a token name
        {"ratelimit-policy": "q=10; w=1", "ratelimit": "r=9; t=1"},  # no name at all
        {"ratelimit-policy": '"per-second";w=1;q=10', "ratelimit": '"per-second";t=1;r=9'},  # any order
        CaseInsensitiveDict({"RateLimit-Policy": '"p";q=10;w=1', "Ratelimit": '"p";r=9;t=1'}),  # requests' headers
    ],
)
def test_names_are_case_insensitive_and_the_policy_name_optional(headers: dict[str, str]) -> None:
    assert read_rate_limit(headers) == Reading(quota=10, window=1, remaining=9, reset=1)


def test_several_policies_choose_the_lowest_rate_with_its_own_remaining() -> None:
    headers = {
        "RateLimit-Policy": '"burst";q=100;w=1, "per-minute";q=300;w=60, "per-second";q=10;w=1',
        "RateLimit": '"burst";r=99;t=1, "per-minute";r=250;t=42, "per-second";r=7;t=1',
    }
    assert read_rate_limit(headers) == Reading(quota=300, window=60, remaining=250, reset=42)


def test_equal_rates_choose_the_shortest_window() -> None:
    headers = {"RateLimit-Policy": '"hour";q=36000;w=3600, "second";q=10;w=1', "RateLimit": '"second";r=4;t=1'}
    assert read_rate_limit(headers) == Reading(quota=10, window=1, remaining=4, reset=1)


def test_the_older_fields_are_read() -> None:
    headers = {"RateLimit-Limit": "10;w=1", "RateLimit-Remaining": "4", "RateLimit-Reset": "1"}
    assert read_rate_limit(headers) == Reading(quota=10, window=1, remaining=4, reset=1)


def test_an_older_limit_without_its_window_is_not_a_rate(
    fresh_warnings: None, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"RateLimit-Limit": "100", "RateLimit-Remaining": "99", "RateLimit-Reset": "30"}
    with caplog.at_level(logging.WARNING, logger=budget_module.log.name):
        assert read_rate_limit(headers) == Reading(remaining=99, reset=30)
    assert "RateLimit-Policy" in caplog.text
    assert "'100'" in caplog.text


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Type": "application/json"}, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9"}]
)
def test_no_rate_limit_fields_read_as_none(headers: dict[str, str]) -> None:
    assert read_rate_limit(headers) is None


@pytest.mark.parametrize(
    "policy",
    [
        '"p";q=ten;w=1',
        '"p";q=-10;w=1',
        '"p";q=10;w=0',
        '"p";q=10;w=-1',
        '"p";q=0;w=1',
        '"p";q=1e9;w=1',
        '"p";q=10000000;w=1',  # absurd
        '"p";q=inf;w=1',
        '"p";q=nan;w=1',
        '"p";q=10',  # no window: q of what?
        '"p";q=10;w=1_0',
        '"p";q=10;w=100000',  # longer than a day
    ],
)
def test_a_malformed_policy_is_ignored(fresh_warnings: None, policy: str) -> None:
    assert read_rate_limit({"RateLimit-Policy": policy}) is None


@pytest.mark.parametrize("remaining", ['"p";r=-1;t=1', '"p";r=x;t=1', '"p";r=1e3;t=1', '"p";t=1'])
def test_a_malformed_remaining_is_ignored_but_the_policy_kept(fresh_warnings: None, remaining: str) -> None:
    reading = read_rate_limit({"RateLimit-Policy": '"p";q=10;w=1', "RateLimit": remaining})
    assert reading == Reading(quota=10, window=1)


@pytest.mark.parametrize("reset", ["-1", "nan", "soon"])
def test_a_malformed_reset_keeps_the_remaining(reset: str) -> None:
    reading = read_rate_limit({"RateLimit-Policy": '"p";q=10;w=1', "RateLimit": f'"p";r=5;t={reset}'})
    assert reading == Reading(quota=10, window=1, remaining=5)


def test_one_bad_policy_among_good_ones_is_skipped(fresh_warnings: None) -> None:
    reading = read_rate_limit({"RateLimit-Policy": '"bad";q=-1;w=1, "good";q=30;w=1'})
    assert reading == Reading(quota=30, window=1)


def test_a_malformed_field_is_warned_about_once(fresh_warnings: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=budget_module.log.name):
        for _ in range(5):
            read_rate_limit({"RateLimit-Policy": '"p";q=10;w=0', "RateLimit": '"p";r=-1;t=1'})
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert "RateLimit-Policy" in warnings[0]
    assert "w=0" in warnings[0]
    assert "RateLimit header" in warnings[1]


@pytest.mark.parametrize(
    "value",
    [
        "",
        ",,,",
        ";;;",
        '"',
        "\\",
        "=" * 10_000,
        '"a";' + ";".join(f"k{i}=1" for i in range(2000)),
        "\x00\x01",
        "q=1;w=1;q=2, ,",
        "é=1",
    ],
)
def test_garbage_never_raises(fresh_warnings: None, value: str) -> None:
    for reading in (
        read_rate_limit({"RateLimit-Policy": value, "RateLimit": value}),
        read_rate_limit({"RateLimit-Limit": value, "RateLimit-Remaining": value, "RateLimit-Reset": value}),
    ):
        assert reading is None or isinstance(reading, Reading)
