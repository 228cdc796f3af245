"""The rate-limit header fields, read strictly: what is stated, what is chosen, what is ignored (and logged once)."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_quo.hooks import ratelimit_headers
from airflow_provider_quo.hooks.ratelimit_headers import Policy, Reading, read_rate_limit


@pytest.fixture(autouse=True)
def fresh_log_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit_headers, "_logged", set())


def test_what_quo_sends():
    reading = read_rate_limit({"ratelimit-policy": '"per-second"; q=10; w=1', "ratelimit": '"per-second"; r=9; t=1'})
    assert reading == Reading(policy=Policy("per-second", 10, 1), remaining=9, reset=1)
    assert reading is not None
    assert reading.policy is not None
    assert reading.policy.rate == 10


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit-Policy": '"per-second";q=10;w=1', "RateLimit": '"per-second";r=9;t=1'},
        {"RATELIMIT-POLICY": "per-second; q=10; w=1", "RATELIMIT": "per-second; r=9; t=1"},  # a token name
        {"ratelimit-policy": "q=10; w=1", "ratelimit": "r=9; t=1"},  # no name at all
        {"ratelimit-policy": '"per-second";w=1;q=10', "ratelimit": '"per-second";t=1;r=9'},  # any order
    ],
)
def test_names_are_case_insensitive_and_the_policy_name_optional(headers):
    reading = read_rate_limit(headers)
    assert reading is not None
    assert reading.policy is not None
    assert (reading.policy.quota, reading.policy.window, reading.remaining, reading.reset) == (10, 1, 9, 1)


def test_requests_case_insensitive_headers():
    from requests.structures import CaseInsensitiveDict

    headers = CaseInsensitiveDict({"RateLimit-Policy": '"a";q=4;w=1', "Ratelimit": '"a";r=0;t=1'})
    assert read_rate_limit(headers) == Reading(policy=Policy("a", 4, 1), remaining=0, reset=1)


def test_several_policies_choose_the_most_restrictive_rate_with_its_remaining():
    headers = {
        "RateLimit-Policy": '"burst";q=100;w=1, "per-minute";q=300;w=60, "per-second";q=10;w=1',
        "RateLimit": '"burst";r=99;t=1, "per-minute";r=250;t=42, "per-second";r=7;t=1',
    }
    reading = read_rate_limit(headers)
    assert reading == Reading(policy=Policy("per-minute", 300, 60), remaining=250, reset=42)


def test_equal_rates_choose_the_shortest_window():
    reading = read_rate_limit({"RateLimit-Policy": '"hour";q=36000;w=3600, "second";q=10;w=1'})
    assert reading == Reading(policy=Policy("second", 10, 1))


def test_unnamed_remaining_items_choose_the_lowest():
    reading = read_rate_limit({"RateLimit": "r=9;t=1, r=3;t=50"})
    assert reading == Reading(remaining=3, reset=50)


def test_older_fields_are_tolerated():
    headers = {"RateLimit-Limit": "10, 10;w=1, 1000;w=3600", "RateLimit-Remaining": "4", "RateLimit-Reset": "1"}
    assert read_rate_limit(headers) == Reading(policy=Policy(None, 10, 1), remaining=4, reset=1)


def test_an_older_limit_without_its_window_is_not_a_rate(caplog):
    headers = {"RateLimit-Limit": "100", "RateLimit-Remaining": "99", "RateLimit-Reset": "30"}
    with caplog.at_level(logging.WARNING):
        assert read_rate_limit(headers) == Reading(remaining=99, reset=30)
    assert "RateLimit-Limit" in caplog.text


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/json"}, {"X-RateLimit-Limit": "10"}])
def test_absent_means_none(headers):
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
        '"unclosed;q=10;w=1',
        "(1 2);q=10;w=1",
        "\u00e9t\u00e9;q=10;w=1",
    ],
)
def test_a_malformed_policy_is_ignored(policy):
    assert read_rate_limit({"RateLimit-Policy": policy}) is None


@pytest.mark.parametrize("remaining", ['"p";r=-1;t=1', '"p";r=x;t=1', '"p";r=5;t=-1', '"p";r=5;t=nan', '"p";t=1'])
def test_a_malformed_remaining_is_ignored_but_the_policy_kept(remaining):
    reading = read_rate_limit({"RateLimit-Policy": '"p";q=10;w=1', "RateLimit": remaining})
    assert reading == Reading(policy=Policy("p", 10, 1))


def test_one_bad_policy_among_good_ones_is_skipped():
    reading = read_rate_limit({"RateLimit-Policy": '"bad";q=-1;w=1, "good";q=30;w=1'})
    assert reading == Reading(policy=Policy("good", 30, 1))


def test_malformed_is_logged_once_per_field_and_reason(caplog):
    with caplog.at_level(logging.WARNING, logger="airflow_provider_quo"):
        for _ in range(5):
            read_rate_limit({"RateLimit-Policy": '"p";q=10;w=0', "RateLimit": '"p";r=-1;t=1'})
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert "RateLimit-Policy" in warnings[0]
    assert "w=0" in warnings[0]
    assert "RateLimit " in warnings[1] or "RateLimit header" in warnings[1]


@pytest.mark.parametrize(
    "value",
    ["", ",,,", ";;;", '"', "\\", "=" * 10_000, '"a";' + ";".join(f"k{i}=1" for i in range(2000)), "\x00\x01"],
)
def test_garbage_never_raises(value):
    read_rate_limit({"RateLimit-Policy": value, "RateLimit": value})
    read_rate_limit({"RateLimit-Limit": value, "RateLimit-Remaining": value, "RateLimit-Reset": value})
