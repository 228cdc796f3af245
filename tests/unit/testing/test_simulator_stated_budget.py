"""The simulator states the key's budget as Quo does, enforces a fixed window or a token bucket, and can play
another client of the key."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_quo.hooks.api import read_rate_limit
from airflow_provider_quo.testing import QuoSimulator
from airflow_provider_quo.testing.__main__ import build_parser, simulator_from_args
from airflow_provider_quo.testing.ratelimit import FixedWindows, TokenBuckets, key_budgets

KEY = "stated-key-91"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_fixed_window_allows_rate_per_second_and_states_what_is_left() -> None:
    clock = Clock()
    windows = FixedWindows(4, clock=clock)
    assert windows.stated(KEY) == {"RateLimit-Policy": '"per-second";q=4;w=1', "RateLimit": '"per-second";r=4;t=1'}
    assert [windows.allow(KEY) for _ in range(5)] == [True, True, True, True, False]
    clock.now += 0.6
    assert windows.stated(KEY)["RateLimit"] == '"per-second";r=0;t=1'  # 0.4 s left: t rounds up
    assert not windows.allow(KEY)
    clock.now += 0.4  # the next window
    assert windows.allow(KEY)
    assert windows.stated(KEY)["RateLimit"] == '"per-second";r=3;t=1'


def test_the_other_client_spends_part_of_each_window() -> None:
    clock = Clock()
    windows = FixedWindows(10, clock=clock, other_rate=4)
    clock.now += 0.99
    assert windows.stated(KEY)["RateLimit"] == '"per-second";r=6;t=1'  # 4 spent by the other client
    assert sum(windows.allow(KEY) for _ in range(10)) == 6
    clock.now += 0.02
    assert windows.stated(KEY)["RateLimit"].startswith('"per-second";r=10;')  # a new window, nothing spent yet


def test_the_other_client_drains_a_token_bucket() -> None:
    clock = Clock()
    buckets = TokenBuckets(10, clock=clock, other_rate=5)
    assert buckets.stated(KEY)["RateLimit"] == '"per-second";r=10;t=0'
    for _ in range(20):  # we take 10/s, the other 5/s: the bucket empties within 2 s
        clock.now += 0.1
        buckets.allow(KEY)
    assert buckets.stated(KEY)["RateLimit"].startswith('"per-second";r=0;')


def test_key_budgets_refuses_another_kind() -> None:
    with pytest.raises(ValueError, match="'sliding'"):
        key_budgets(10, "sliding")
    with pytest.raises(ValueError, match="other_client"):
        key_budgets(10, "fixed", -1)


def test_every_response_states_the_budget_errors_included() -> None:
    with QuoSimulator(api_key=KEY, conversations=3, rate_limit=2, rate_limit_window="fixed") as sim:
        cid = sim.conversation_ids()[0]
        mark = f"{sim.base_url}/v1/conversations/{cid}/mark-as-read"
        answers = [
            requests.post(mark, headers={"Authorization": KEY}, timeout=5),
            requests.post(mark, headers={"Authorization": "wrong"}, timeout=5),
            requests.get(f"{sim.base_url}/v1/nothing", headers={"Authorization": KEY}, timeout=5),
            requests.post(mark, headers={"Authorization": KEY}, timeout=5),
            requests.post(mark, headers={"Authorization": KEY}, timeout=5),
        ]
    assert [a.status_code for a in answers] == [200, 401, 404, 200, 429]
    readings = [read_rate_limit(a.headers) for a in answers]
    assert all(r is not None and (r.quota, r.window) == (2, 1) for r in readings)
    assert readings[-1] is not None
    assert readings[-1].remaining == 0


def test_headers_can_be_switched_off_or_replaced() -> None:
    with QuoSimulator(api_key=KEY, conversations=3, rate_limit=10) as sim:
        url = f"{sim.base_url}/v1/phone-numbers"
        sim.rate_limit_headers = False
        assert "RateLimit" not in requests.get(url, headers={"Authorization": KEY}, timeout=5).headers
        sim.rate_limit_headers = {"RateLimit-Policy": "q=abc"}
        assert requests.get(url, headers={"Authorization": KEY}, timeout=5).headers["RateLimit-Policy"] == "q=abc"


def test_settings_are_live_and_keep_each_other() -> None:
    sim = QuoSimulator(api_key=KEY, conversations=1, rate_limit=10, rate_limit_window="fixed", other_client=3)
    sim.rate_limit = 30
    assert (sim.rate_limit, sim.rate_limit_window, sim.other_client) == (30, "fixed", 3)
    sim.other_client = 0
    sim.rate_limit_window = "bucket"
    assert (sim.rate_limit, sim.rate_limit_window, sim.other_client) == (30, "bucket", 0)


def test_the_cli_sets_the_window_the_other_client_and_the_headers() -> None:
    args = build_parser().parse_args(
        ["--rate-limit", "10", "--rate-limit-window", "fixed", "--other-client", "5", "--no-rate-limit-headers"]
    )
    sim = simulator_from_args(args)
    assert (sim.rate_limit, sim.rate_limit_window, sim.other_client, sim.rate_limit_headers) == (10, "fixed", 5, False)
    assert simulator_from_args(build_parser().parse_args([])).rate_limit_headers is True
