"""QuoHook retries: what is retried, how long it waits, how often (429 storms waited out within a time budget),
stopping a bulk run's waiting requests, and a 429 holding back every user of the key."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from datetime import datetime, timezone
from email.utils import format_datetime
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import tenacity

from airflow_provider_quo import exceptions
from airflow_provider_quo.exceptions import (
    QuoAPIError,
    QuoAuthenticationError,
    QuoBadRequestError,
    QuoConnectionError,
    QuoNotFoundError,
    QuoNotSentError,
    QuoPermissionError,
    QuoRateLimitError,
    QuoServerError,
)
from airflow_provider_quo.hooks import http
from airflow_provider_quo.hooks import retries as retry
from airflow_provider_quo.hooks.budget import UNSTATED_PAUSE_SLOTS, KeyBudget
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.settings import DEFAULT_RETRY_LIMIT
from airflow_provider_quo.operators._summary import MarkSummary

KEY = "test-key-Zq81xQ"
OK = {"json": {"id": "CN1"}, "status_code": 200}
TOO_MANY = {"status_code": 429, "json": {"message": "Too many requests", "status": 429}}
PATH = "/v1/conversations/CN1/mark-as-read"


@pytest.fixture
def url(quo_conn: str) -> str:
    return quo_conn + PATH


def error(status: int, **extra: object) -> dict[str, object]:
    return {"status_code": status, "json": {"message": "boom", "status": status, "title": "T", **extra}}


def test_429_retry_after_seconds_then_success(hook, url, requests_mock, no_retry_sleep):
    requests_mock.post(url, [{**error(429), "headers": {"Retry-After": "7"}}, OK])

    assert hook.mark_conversation_as_read("CN1") == {"id": "CN1"}
    assert requests_mock.call_count == 2
    assert no_retry_sleep == [7.0]


def test_429_retry_after_http_date(hook, url, requests_mock, no_retry_sleep, monkeypatch):
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(exceptions, "time", SimpleNamespace(time=now.timestamp))
    when = format_datetime(now.replace(second=12), usegmt=True)  # "Sun, 01 Nov 2026 12:00:12 GMT"
    requests_mock.post(url, [{**error(429), "headers": {"Retry-After": when}}, OK])

    hook.mark_conversation_as_read("CN1")
    assert no_retry_sleep == [12.0]


@pytest.mark.parametrize("header", ["3600", "Sun, 01 Nov 2099 12:00:12 GMT"])
def test_retry_after_is_capped_at_60(hook, url, requests_mock, no_retry_sleep, clock, header):
    requests_mock.post(url, [{**error(429), "headers": {"Retry-After": header}}, OK])

    hook.mark_conversation_as_read("CN1")
    assert no_retry_sleep == [http.MAX_RETRY_AFTER] == [60.0]
    # the throttle pause must be capped too, else the retried request blocks for the full hour
    assert sum(clock.sleeps) <= http.MAX_RETRY_AFTER + 1


@pytest.mark.parametrize("header", [None, "", "soon", "-5"])
def test_429_without_usable_retry_after_uses_backoff(hook, url, requests_mock, no_retry_sleep, header):
    first = {**error(429), "headers": {"Retry-After": header}} if header is not None else error(429)
    requests_mock.post(url, [first, error(429), error(429), OK])

    hook.mark_conversation_as_read("CN1")
    assert requests_mock.call_count == 4
    assert len(no_retry_sleep) == 3
    # full-jitter exponential backoff: attempt n waits in [0, 0.5 * 2**n]
    for attempt, wait in enumerate(no_retry_sleep, start=1):
        assert 0 <= wait <= 0.5 * 2**attempt


@pytest.mark.parametrize("value", ["-5", "inf", "nan", "1e9", "1_0"])
def test_a_retry_after_that_is_not_digits_or_a_date_is_ignored(hook, url, requests_mock, no_retry_sleep, value):
    """RFC 9110: delta-seconds or an HTTP-date, nothing else (``float()`` would wait 60 s on ``inf``)."""
    requests_mock.post(url, [{**error(429), "headers": {"Retry-After": value}}, OK])
    with pytest.raises(QuoRateLimitError) as caught:
        hook.request("POST", "v1", "conversations", "CN1", "mark-as-read", retries=False)
    assert caught.value.retry_after is None
    assert hook.mark_conversation_as_read("CN1") == {"id": "CN1"}
    assert no_retry_sleep == []  # the request succeeded at once: nothing waited


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(hook, url, requests_mock, no_retry_sleep, status):
    requests_mock.post(url, [{"status_code": status, "text": "<html>bad gateway</html>"}, OK])
    assert hook.mark_conversation_as_read("CN1") == {"id": "CN1"}
    assert requests_mock.call_count == 2
    assert len(no_retry_sleep) == 1


@pytest.mark.parametrize(
    "exc", [requests.ConnectionError, requests.ConnectTimeout, requests.ReadTimeout, requests.Timeout]
)
def test_network_error_then_success(hook, url, requests_mock, no_retry_sleep, exc):
    requests_mock.post(url, [{"exc": exc}, {"exc": exc}, OK])
    assert hook.mark_conversation_as_read("CN1") == {"id": "CN1"}
    assert requests_mock.call_count == 3
    assert len(no_retry_sleep) == 2


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, QuoBadRequestError),
        (401, QuoAuthenticationError),
        (403, QuoPermissionError),
        (404, QuoNotFoundError),
        (422, QuoBadRequestError),
        (409, QuoAPIError),
    ],
)
def test_client_errors_are_not_retried(hook, url, requests_mock, no_retry_sleep, status, cls):
    requests_mock.post(url, [error(status), OK])
    with pytest.raises(cls) as caught:
        hook.mark_conversation_as_read("CN1")
    assert caught.value.status == status
    assert requests_mock.call_count == 1
    assert no_retry_sleep == []


def test_attempts_bounded_by_default_retry_limit(hook, url, requests_mock, no_retry_sleep):
    requests_mock.post(url, status_code=503, json={"message": "down", "status": 503})
    with pytest.raises(QuoServerError, match="503"):
        hook.mark_conversation_as_read("CN1")
    assert requests_mock.call_count == DEFAULT_RETRY_LIMIT == 6
    assert len(no_retry_sleep) == 5


def test_retry_limit_from_extra(monkeypatch, unthrottle, requests_mock, no_retry_sleep):
    conn = {"conn_type": "quo", "password": KEY, "host": "https://h.test", "extra": {"retry_limit": 3}}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_R", json.dumps(conn))
    requests_mock.post("https://h.test" + PATH, exc=requests.ConnectionError("refused"))

    with pytest.raises(QuoConnectionError, match="ConnectionError"):
        unthrottle(QuoHook(quo_conn_id="quo_r")).mark_conversation_as_read("CN1")
    assert requests_mock.call_count == 3


@pytest.mark.parametrize("limit", [1, 2])
def test_retry_limit_from_constructor(quo_conn, unthrottle, url, requests_mock, no_retry_sleep, limit):
    requests_mock.post(url, status_code=503, json={"message": "busy"})  # 429s have a time budget instead
    with pytest.raises(QuoServerError):
        unthrottle(QuoHook(retry_limit=limit)).mark_conversation_as_read("CN1")
    assert requests_mock.call_count == limit
    assert len(no_retry_sleep) == limit - 1


def test_retry_args_override(quo_conn, unthrottle, url, requests_mock, no_retry_sleep):
    requests_mock.post(url, status_code=500, json={"message": "x"})
    hook = unthrottle(QuoHook(retry_args={"stop": tenacity.stop_after_attempt(1)}))
    with pytest.raises(QuoServerError):
        hook.mark_conversation_as_read("CN1")
    assert requests_mock.call_count == 1


def test_retry_args_override_wait(quo_conn, unthrottle, url, requests_mock, no_retry_sleep):
    requests_mock.post(url, [error(500), error(500), OK])
    hook = unthrottle(QuoHook(retry_args={"wait": tenacity.wait_fixed(2.5)}))
    hook.mark_conversation_as_read("CN1")
    assert no_retry_sleep == [2.5, 2.5]


def test_retries_false_sends_once(hook, url, requests_mock):
    requests_mock.post(url, [error(500), OK])
    with pytest.raises(QuoServerError):
        hook.request("POST", "v1", "conversations", "CN1", "mark-as-read", retries=False)
    assert requests_mock.call_count == 1


def test_each_retry_logs_a_warning(hook, url, requests_mock, caplog):
    requests_mock.post(
        url, [{**error(429), "headers": {"Retry-After": "4"}}, error(502), {"exc": requests.ConnectTimeout}, OK]
    )
    with caplog.at_level(logging.WARNING, logger=retry.log.name):
        hook.mark_conversation_as_read("CN1")

    records = [r for r in caplog.records if r.name == retry.log.name]
    assert len(records) == 3
    assert all(r.levelno == logging.WARNING for r in records)
    messages = [r.getMessage() for r in records]
    assert "HTTP 429" in messages[0]
    assert "retrying in 4.00s" in messages[0]
    assert "attempt 2" in messages[0]
    assert "HTTP 502" in messages[1]
    assert "QuoTimeoutError" in messages[2]  # a ConnectTimeout
    assert "attempt 4" in messages[2]
    assert all(KEY not in m for m in messages)


def test_a_429_holds_the_retried_request_back_for_its_retry_after(hook, url, requests_mock, clock):
    requests_mock.post(url, [{**error(429), "headers": {"Retry-After": "5"}}, OK])
    hook.mark_conversation_as_read("CN1")
    assert sum(clock.sleeps) == pytest.approx(5.0, abs=0.01)


def test_a_429_stating_nothing_holds_the_key_back_briefly(hook, url, requests_mock, clock):
    requests_mock.post(url, [error(429), OK])
    hook.mark_conversation_as_read("CN1")
    assert sum(clock.sleeps) == pytest.approx(UNSTATED_PAUSE_SLOTS / hook.budget.rate, rel=0.01)  # five slots


def test_a_429_stating_the_window_spent_holds_the_key_back_until_it_resets(hook, url, requests_mock, clock):
    spent = {**error(429), "headers": {"RateLimit-Policy": '"s";q=10;w=1', "RateLimit": '"s";r=0;t=1'}}
    requests_mock.post(url, [spent, OK])
    hook.mark_conversation_as_read("CN1")
    assert sum(clock.sleeps) == pytest.approx(1.0, abs=0.01)


def test_a_429_pause_delays_the_next_request_of_another_hook_of_the_key(
    quo_conn, url, requests_mock, clock, unthrottle
):
    first = unthrottle(QuoHook())
    second = QuoHook()
    second.budget = KeyBudget(first.budget.store, configured=1e6, clock=clock, sleep=clock.sleep)
    requests_mock.post(url, [{**error(429), "headers": {"Retry-After": "3"}}, OK])

    with pytest.raises(QuoRateLimitError):
        first.request("POST", "v1", "conversations", "CN1", "mark-as-read", retries=False)
    assert sum(clock.sleeps) < 0.001
    second.mark_conversation_as_read("CN1")
    assert sum(clock.sleeps) == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
def test_non_429_errors_do_not_hold_the_key_back(hook, url, requests_mock, clock, status):
    requests_mock.post(url, [{**error(status), "headers": {"Retry-After": "7"}}, OK])
    with contextlib.suppress(QuoAPIError):
        hook.mark_conversation_as_read("CN1")
    assert sum(clock.sleeps) < 0.001


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (QuoServerError(status=500), True),
        (QuoRateLimitError(status=429), True),
        (QuoNotFoundError(status=404), False),
        (QuoAPIError(status=200), False),
        (QuoConnectionError("x"), True),
        (requests.ConnectionError(), True),
        (requests.Timeout(), True),
        (ValueError(), False),
    ],
)
def test_retries_request(err, expected):
    assert retry.retries_request(err) is expected


@pytest.mark.parametrize(
    "transport_error",
    [requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError],
    ids=["cut-mid-body", "bad-encoding"],
)
def test_response_cut_off_mid_body_is_retried(hook, url, requests_mock, no_retry_sleep, transport_error):
    requests_mock.post(url, [{"exc": transport_error("connection broken")}, OK])
    assert hook.mark_conversation_as_read("CN1") == {"id": "CN1"}
    assert requests_mock.call_count == 2


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_an_error_not_followed(hook, url, requests_mock, status):
    requests_mock.post(url, status_code=status, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    requests_mock.get("http://127.0.0.1:9/elsewhere", json={"id": "CN1"})
    with pytest.raises(QuoAPIError) as caught:
        hook.mark_conversation_as_read("CN1")
    assert caught.value.status == status
    assert requests_mock.call_count == 1  # not retried, and the redirect was not followed


def test_tls_failure_is_not_retried_and_is_typed(hook, url, requests_mock):
    requests_mock.post(url, exc=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(exceptions.QuoTLSError, match="certificate verify failed"):
        hook.mark_conversation_as_read("CN1")
    assert requests_mock.call_count == 1


def outcome_state(error: BaseException, attempt: int, seconds: float, waited: float = 0.0) -> Any:
    outcome = SimpleNamespace(exception=lambda: error)
    return SimpleNamespace(outcome=outcome, attempt_number=attempt, seconds_since_start=seconds, idle_for=waited)


# -- 429 storms and the stop rule ------------------------------------------------------------------------------------


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
    assert sum(no_retry_sleep) == retry.RATE_LIMIT_WAIT_SECONDS  # 12 waits of 5 s, then given up
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
