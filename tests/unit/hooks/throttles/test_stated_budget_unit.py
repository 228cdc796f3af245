"""The key's budget as the server states it: the limit, what others spend, an empty window, a user's ceiling."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from airflow_provider_quo.hooks.ratelimit_headers import Policy, Reading
from airflow_provider_quo.hooks.throttles import CappedThrottle, build_throttle
from airflow_provider_quo.hooks.throttles.host import HostThrottle
from airflow_provider_quo.hooks.throttles.process import ProcessThrottle
from airflow_provider_quo.hooks.throttles.stated import LIMIT_TTL_SECONDS, SAFETY, StatedBudget

PER_SECOND = Policy("per-second", 10, 1)


def stated(quota: float, remaining: float | None = None, reset: float | None = 1) -> Reading:
    return Reading(policy=Policy("per-second", quota, 1), remaining=remaining, reset=reset)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_no_statement_keeps_the_connections_number() -> None:
    budget = StatedBudget()
    assert budget.key_rate(0, configured=10, ceiling=False) == 10
    assert budget.key_rate(0, configured=1000, ceiling=True) == 1000


def test_a_raised_limit_is_used_without_configuration_and_a_lowered_one_at_once() -> None:
    budget = StatedBudget()
    budget.observe(stated(30), now=1.0)
    assert budget.key_rate(1.0, configured=10, ceiling=False) == pytest.approx(30 * SAFETY)
    budget.observe(stated(4), now=2.0)
    assert budget.key_rate(2.0, configured=10, ceiling=False) == pytest.approx(4 * SAFETY)


def test_a_user_set_rate_is_a_ceiling_no_statement_lifts() -> None:
    budget = StatedBudget()
    budget.observe(stated(30), now=1.0)
    assert budget.key_rate(1.0, configured=10, ceiling=True) == 10  # used as set
    budget.observe(stated(4), now=2.0)
    assert budget.key_rate(2.0, configured=10, ceiling=True) == pytest.approx(4 * SAFETY)  # lowered still


def test_a_statement_is_forgotten_when_the_server_stops_stating_it() -> None:
    budget = StatedBudget()
    budget.observe(stated(30), now=1.0)
    assert budget.key_rate(1.0 + LIMIT_TTL_SECONDS + 1, configured=10, ceiling=False) == 10


def feed_window(budget: StatedBudget, start: float, quota: int, ours: int, others_per_gap: int) -> float:
    """Our ``ours`` requests spread over one window, the other client spending between each pair."""
    remaining = quota
    now = start
    for _ in range(ours):
        remaining -= 1
        budget.observe(stated(quota, remaining), now=now)
        remaining -= others_per_gap
        now += 1.0 / ours
    return now


def test_what_others_spend_is_learnt_from_the_remaining_count() -> None:
    budget = StatedBudget()
    now = 0.0
    for _ in range(5):  # we send 4 a window, the other client 1 between each of ours (4 a second)
        now = feed_window(budget, now, quota=10, ours=4, others_per_gap=1)
    # one request of the other client per 0.25 s between two of ours: 4/s (the gaps across windows are not sampled)
    assert budget.others_rate() == pytest.approx(4.0, abs=0.1)
    assert budget.key_rate(now, configured=10, ceiling=False) == pytest.approx((10 - 4) * SAFETY, abs=0.1)


def test_the_estimate_recovers_when_the_other_client_stops() -> None:
    budget = StatedBudget()
    now = 0.0
    for _ in range(5):
        now = feed_window(budget, now, quota=10, ours=4, others_per_gap=1)
    for _ in range(15):
        now = feed_window(budget, now, quota=10, ours=8, others_per_gap=0)
    assert budget.others_rate() < 0.1
    assert budget.key_rate(now, configured=10, ceiling=False) == pytest.approx(10 * SAFETY, rel=0.01)


def test_out_of_order_responses_in_a_window_cancel_out() -> None:
    budget = StatedBudget()
    now = 0.0
    for _ in range(6):
        for remaining in (9, 7, 8, 5, 6, 3, 4, 1, 2):  # pairs answered in swapped order, nobody else spending
            budget.observe(stated(10, remaining), now=now)
            now += 0.1
        now += 0.1
    assert budget.others_rate() < 0.5


def test_with_a_small_quota_a_rise_by_one_is_a_new_window_not_a_reorder() -> None:
    budget = StatedBudget()
    budget.observe(stated(4, 3), now=0.0)  # the first window's end is known only as "by 1.0"
    budget.observe(stated(4, 2), now=0.25)
    budget.observe(stated(4, 3), now=0.5)  # q - 1: a new window began (after one of ours), the first ended
    assert budget.window_end == pytest.approx(1.5)
    budget.observe(stated(4, 2), now=0.75)
    budget.observe(stated(4, 1), now=1.0)
    # r = 0 within the window begun at 0.5: pause until it ends, not a whole window more
    assert budget.observe(stated(4, 0), now=1.25) == pytest.approx(0.25)


def test_q_minus_one_twice_is_a_new_window() -> None:
    budget = StatedBudget()
    budget.observe(stated(30, 29), now=0.0)  # the first id alone: its window ends by 1.0
    budget.observe(stated(30, 29), now=0.1)  # so does this one's: it began after the first, ends by 1.1
    assert budget.window_end == pytest.approx(1.1)
    for step in range(28):
        budget.observe(stated(30, 28 - step), now=0.13 + step * 0.033)
    # r = 0 at 1.05 is the second window's, not a third's: pause until 1.1, not a whole window
    assert budget.observe(stated(30, 0), now=1.05) == pytest.approx(0.05)


def test_a_rise_by_one_below_q_minus_one_is_still_a_reorder() -> None:
    budget = StatedBudget()
    budget.observe(stated(10, 7), now=0.0)
    budget.observe(stated(10, 8), now=0.1)  # answered out of order: same window
    assert (budget.lowest, budget.window_end) == (7, 1.0)


def test_an_empty_window_pauses_until_it_resets() -> None:
    budget = StatedBudget()
    assert budget.observe(stated(10, 3, reset=1), now=5.0) == 0
    assert budget.observe(stated(10, 0, reset=1), now=5.4) == pytest.approx(0.6)  # the window ends by 6.0
    assert budget.observe(Reading(remaining=0, reset=2), now=7.0) == 2


def test_the_last_r_another_client_will_most_likely_take_first_counts_as_spent() -> None:
    """Another client spends as much as we do (one of its between two of ours): at r = 1 the next request
    would find the window empty, so the key pauses until it ends; at r = 2 it goes on."""
    budget = StatedBudget()
    for step, remaining in enumerate((9, 7, 5)):  # 0.3 s of samples: a first guess of the other client
        assert budget.observe(stated(10, remaining), now=step * 0.15) == 0
    assert budget.observe(stated(10, 3), now=0.45) == 0
    assert budget.observe(stated(10, 1), now=0.6) == pytest.approx(0.4)  # the window ends by 1.0


def test_with_nobody_else_spending_only_an_empty_window_pauses() -> None:
    budget = StatedBudget()
    for step, remaining in enumerate((9, 8, 7, 6, 5, 4, 3, 2, 1)):
        assert budget.observe(stated(10, remaining), now=step * 0.1) == 0
    assert budget.observe(stated(10, 0), now=0.9) == pytest.approx(0.1)


def test_a_429_is_not_counted_as_our_request() -> None:
    budget = StatedBudget()
    budget.observe(stated(10, 0), now=0.0)
    for step in range(1, 6):
        budget.observe(stated(10, 0), now=step * 0.1, counted=False)
    assert budget.others == 0


def test_records_round_trip_and_garbage_reads_as_fresh() -> None:
    budget = StatedBudget()
    budget.observe(stated(10, 5), now=3.0)
    assert StatedBudget.unpack(budget.pack()) == budget
    assert StatedBudget.from_fields(budget.as_fields()) == budget
    assert StatedBudget.unpack(b"\x00" * 3) == StatedBudget()
    assert StatedBudget.from_fields({"limit": "ten"}) == StatedBudget()


def test_the_limit_learnt_by_one_process_reaches_another_on_the_host(tmp_path: Path) -> None:
    clock = Clock()
    one = HostThrottle(10, "d" * 64, clock=clock, sleep=clock.sleep, directory=tmp_path, ceiling=False)
    other = HostThrottle(10, "d" * 64, clock=clock, sleep=clock.sleep, directory=tmp_path, ceiling=False)
    one.observe(stated(4, 3))
    other.acquire()  # a reservation reads the shared statement
    assert other.rate == pytest.approx(4 * SAFETY)
    assert one.host_id() == other.host_id()
    (tmp_path / "other-host").mkdir()  # same name, another state directory: another host to the budget
    elsewhere = HostThrottle(10, "d" * 64, clock=clock, directory=tmp_path / "other-host")
    assert elsewhere.host_id() != one.host_id()


def test_an_empty_window_pauses_every_user_of_the_key(tmp_path: Path) -> None:
    clock = Clock()
    throttle = HostThrottle(10, "e" * 64, clock=clock, sleep=clock.sleep, directory=tmp_path, ceiling=False)
    throttle.observe(stated(10, 0, reset=1))
    assert throttle.acquire() == pytest.approx(1.0)


def test_the_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = ProcessThrottle(10, clock=clock, sleep=clock.sleep, ceiling=False)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_quo"):
        for remaining in range(9, 0, -1):
            limiter.observe(stated(30, remaining))
    assert [r.getMessage() for r in caplog.records] == [
        "Quo states this key's limit as 30 requests/s, not the 10/s assumed: pacing at the server's "
        "(the connection sets no requests_per_second)"
    ]


def test_a_task_cap_above_the_default_still_caps_when_the_server_may_raise_the_budget(tmp_path: Path) -> None:
    throttle = build_throttle("k-cap", "http://127.0.0.1:1", 10, task_rate=20, ceiling=False)
    assert isinstance(throttle, CappedThrottle)
    throttle.observe(stated(30, 29))
    assert throttle.rate == 20
    assert throttle.key.rate == pytest.approx(30 * SAFETY)
