"""Retries that fit the budget (429s within a time budget, Retry-After on 503), stopping a bulk run's
waiting requests, and the ``rate_limit_url`` extra (checked before any request, password masked)."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.exceptions import QuoNotSentError, QuoRateLimitError, QuoServerError
from airflow_provider_quo.hooks import request_retries as retry
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.settings import rate_limit_url
from airflow_provider_quo.operators._summary import MarkSummary
from airflow_provider_quo.redaction import redact_url

OK = {"json": {"id": "CN1"}, "status_code": 200}
TOO_MANY = {"status_code": 429, "json": {"message": "Too many requests", "status": 429}}
PATH = "/v1/conversations/CN1/mark-as-read"


def outcome_state(error: BaseException, attempt: int, seconds: float, waited: float = 0.0) -> Any:
    outcome = SimpleNamespace(exception=lambda: error)
    return SimpleNamespace(outcome=outcome, attempt_number=attempt, seconds_since_start=seconds, idle_for=waited)


# -- retries -----------------------------------------------------------------------------------------


def test_a_15_second_429_storm_does_not_fail_the_id(hook, quo_conn, requests_mock, no_retry_sleep):
    """Fifteen 429s a second apart: a fixed count of 6 attempts would have failed the id."""
    storm = {**TOO_MANY, "headers": {"Retry-After": "1"}}
    requests_mock.post(quo_conn + PATH, [storm] * 15 + [OK])
    assert hook.mark_conversation_as_read("CN1") == {"id": "CN1"}
    assert requests_mock.call_count == 16
    assert no_retry_sleep == [1.0] * 15


def test_a_429_storm_past_the_retry_limit_is_waited_out_for_a_minute_then_fails(
    hook, quo_conn, requests_mock, no_retry_sleep
):
    storm = {**TOO_MANY, "headers": {"Retry-After": "5"}}
    requests_mock.post(quo_conn + PATH, [storm] * 30 + [OK])
    with pytest.raises(QuoRateLimitError):
        hook.mark_conversation_as_read("CN1")
    assert sum(no_retry_sleep) == retry.DEFAULT_RATE_LIMIT_WAIT_SECONDS  # 12 waits of 5 s, then given up
    assert requests_mock.call_count == 13


def test_429s_past_the_retry_limit_stop_at_the_wait_budget_or_the_time_budget() -> None:
    stop = retry.StopRetrying(retry_limit=3, max_retry_seconds=300)
    rate_limited = QuoRateLimitError(status=429)
    assert not any(stop(outcome_state(rate_limited, attempt, 1.0 * attempt, 4.0 * attempt)) for attempt in range(1, 15))
    assert stop(outcome_state(rate_limited, 15, 15.0, 60.0))
    assert retry.StopRetrying(retry_limit=3, max_retry_seconds=300)(outcome_state(rate_limited, 2, 300.0))


def test_other_failures_still_count_against_the_retry_limit() -> None:
    stop = retry.StopRetrying(retry_limit=3, max_retry_seconds=300)
    rate_limited, server = QuoRateLimitError(status=429), QuoServerError(status=502)
    assert not stop(outcome_state(rate_limited, 1, 1.0))
    assert not stop(outcome_state(server, 2, 2.0))
    assert not stop(outcome_state(rate_limited, 3, 3.0))
    assert not stop(outcome_state(server, 4, 4.0))  # 2 attempts not answered 429
    assert stop(outcome_state(server, 5, 5.0))  # the third: the limit
    assert retry.StopRetrying(retry_limit=1, max_retry_seconds=300)(outcome_state(rate_limited, 1, 0.0))


def test_no_retry_starts_once_the_run_stopped() -> None:
    event = threading.Event()
    stop = retry.StopRetrying(retry_limit=6, max_retry_seconds=300, stop=event)
    assert not stop(outcome_state(QuoServerError(status=503), 1, 0.0))
    event.set()
    assert stop(outcome_state(QuoServerError(status=503), 1, 0.0))


def test_retry_after_is_honoured_on_503(hook, quo_conn, requests_mock, no_retry_sleep):
    busy = {"status_code": 503, "text": "<html>down</html>", "headers": {"Retry-After": "9"}}
    requests_mock.post(quo_conn + PATH, [busy, OK])
    assert hook.mark_conversation_as_read("CN1") == {"id": "CN1"}
    assert no_retry_sleep == [9.0]


def test_a_429_slows_the_shared_budget_down(hook, quo_conn, requests_mock):
    requests_mock.post(quo_conn + PATH, [TOO_MANY, OK])
    with mock.patch.object(hook.rate_limiter, "slow_down") as slow_down:
        hook.mark_conversation_as_read("CN1")
    slow_down.assert_called_once_with()


def test_a_429_that_states_the_window_spent_only_pauses_until_it_resets(hook, quo_conn, requests_mock):
    spent = {**TOO_MANY, "headers": {"RateLimit-Policy": '"s";q=10;w=1', "RateLimit": '"s";r=0;t=1'}}
    requests_mock.post(quo_conn + PATH, [spent, OK])
    with (
        mock.patch.object(hook.rate_limiter, "slow_down") as slow_down,
        mock.patch.object(hook.rate_limiter, "pause") as pause,
    ):
        hook.mark_conversation_as_read("CN1")
    slow_down.assert_not_called()  # the server's statement explains it: no back-off on top
    assert pause.call_args_list == [mock.call(1.0)]  # observe()'s, until the window resets: nothing more


def test_a_429_with_a_stated_window_not_spent_still_slows_down(hook, quo_conn, requests_mock):
    odd = {**TOO_MANY, "headers": {"RateLimit-Policy": '"s";q=10;w=1', "RateLimit": '"s";r=3;t=1'}}
    requests_mock.post(quo_conn + PATH, [odd, OK])
    with mock.patch.object(hook.rate_limiter, "slow_down") as slow_down:
        hook.mark_conversation_as_read("CN1")
    slow_down.assert_called_once_with()


# -- stopping ------------------------------------------------------------------------------------------


def test_a_request_whose_run_stopped_is_not_sent(hook, quo_conn, requests_mock):
    requests_mock.post(quo_conn + PATH, [OK])
    stop = threading.Event()
    stop.set()
    with pytest.raises(QuoNotSentError):
        hook.mark_conversation("CN1", stop=stop)
    assert requests_mock.call_count == 0


def test_a_not_sent_id_counts_as_not_attempted() -> None:
    summary = MarkSummary("read", 2, fail_on_not_found=False, keep_marked_ids=True)
    summary.record("CN1", None)
    summary.record("CN2", QuoNotSentError("not sent"))
    assert summary.as_dict()["not_attempted_count"] == 1
    assert summary.as_dict()["failed"] == {}


# -- rate_limit_url ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  redis://127.0.0.1:6379/0 ", "redis://127.0.0.1:6379/0"),
        ("rediss://:pw@redis.example:6380/2", "rediss://:pw@redis.example:6380/2"),
        ("redis://redis", "redis://redis"),
    ],
)
def test_rate_limit_url_accepts_redis_urls(value, expected):
    assert rate_limit_url(value, "quo") == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("http://:hunter2-pw@127.0.0.1:6379/0", "'http://:***@127.0.0.1:6379/0'"),
        ("memcached://127.0.0.1:11211", "'memcached://127.0.0.1:11211'"),
        ("redis://:hunter2-pw@127.0.0.1:99999/0", "'redis://:***@127.0.0.1:99999/0'"),
        ("redis://:hunter2-pw@127.0.0.1:6379/zero", "'redis://:***@127.0.0.1:6379/zero'"),
        ("redis:///0", "'redis:///0'"),
        (3, "3"),
    ],
)
def test_a_bad_rate_limit_url_is_named_with_its_password_masked(value, shown):
    with pytest.raises(ValueError, match="rate_limit_url") as caught:
        rate_limit_url(value, "quo")
    assert shown in str(caught.value)
    assert "hunter2-pw" not in str(caught.value)


def test_a_bad_rate_limit_url_fails_before_any_request(monkeypatch, requests_mock):
    conn = {
        "conn_type": "quo",
        "password": "k-123456",
        "host": "https://h.test",
        "extra": {"rate_limit_url": "redis:/x"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_QUO_BAD", json.dumps(conn))
    with pytest.raises(ValueError, match="rate_limit_url 'redis:/x'"):
        list(QuoHook(quo_conn_id="quo_bad").mark_conversations(["CN1", "CN2"]))
    assert requests_mock.call_count == 0


def test_the_redis_password_is_masked_and_kept_out_of_repr(monkeypatch):
    url = "redis://user:pw-Secret-0x7@127.0.0.1:6379/0"
    conn = {"conn_type": "quo", "password": "k-123456", "host": "https://h.test", "extra": {"rate_limit_url": url}}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_R", json.dumps(conn))
    hook = QuoHook(quo_conn_id="quo_r")
    with mock.patch("airflow_provider_quo.hooks.quo.mask_secret") as mask_secret:
        _ = hook.rate_limiter
    assert mock.call("pw-Secret-0x7") in mask_secret.call_args_list
    assert "pw-Secret-0x7" not in repr(hook.settings)
    assert hook.settings.rate_limit_url_shown == "redis://user:***@127.0.0.1:6379/0"
    assert redact_url("redis://127.0.0.1") == "redis://127.0.0.1"
