"""QuoHook.test_connection: one cheap read-only call, no retries, useful messages, never the key."""

from __future__ import annotations

import json

import pytest
import requests
from requests_mock import ANY

from airflow_provider_quo.hooks.quo import TEST_CONNECTION_TIMEOUT, QuoHook

KEY = "test-key-Zq81xQ"


@pytest.fixture
def numbers_url(quo_conn: str) -> str:
    return f"{quo_conn}/v1/phone-numbers"


def test_success_is_one_get_of_phone_numbers(hook, quo_conn, numbers_url, requests_mock):
    requests_mock.get(numbers_url, json={"data": [{"id": "PN1"}]})

    ok, message = hook.test_connection()

    assert ok is True
    assert quo_conn in message
    assert requests_mock.call_count == 1
    sent = requests_mock.last_request
    assert sent.method == "GET"
    assert sent.url == numbers_url
    assert sent.headers["Authorization"] == KEY
    assert sent.timeout == (5.0, TEST_CONNECTION_TIMEOUT)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_errors_are_not_retried(hook, numbers_url, requests_mock, no_retry_sleep, status):
    requests_mock.get(numbers_url, [{"status_code": status, "json": {"message": "Unknown error"}}, {"json": {}}])

    ok, message = hook.test_connection()

    assert ok is False
    assert message.startswith(str(status))
    assert requests_mock.call_count == 1
    assert no_retry_sleep == []


def test_500_message_carries_the_server_message(hook, numbers_url, requests_mock):
    body = {"message": "Something broke", "code": "1001500", "status": 500, "title": "Unknown", "trace": "t-9"}
    requests_mock.get(numbers_url, status_code=500, json=body)
    assert hook.test_connection() == (False, "500 Unknown: Something broke")


def test_401_says_check_the_api_key_and_hides_it(hook, numbers_url, requests_mock):
    body = {"message": f"Invalid API key {KEY}", "code": "1000401", "status": 401, "title": "Unauthorized"}
    requests_mock.get(numbers_url, status_code=401, json=body)

    ok, message = hook.test_connection()

    assert ok is False
    assert "401" in message
    assert "check the API key" in message
    assert KEY not in message
    assert requests_mock.call_count == 1


def test_403_hint(hook, numbers_url, requests_mock):
    requests_mock.get(numbers_url, status_code=403, json={"message": "Not Phone Number User", "status": 403})
    ok, message = hook.test_connection()
    assert ok is False
    assert message.startswith("403")
    assert "lacks access" in message


def test_non_json_error(hook, numbers_url, requests_mock):
    requests_mock.get(numbers_url, status_code=502, text="<html><body>Bad Gateway</body></html>", reason="Bad Gateway")
    ok, message = hook.test_connection()
    assert ok is False
    assert message.startswith("502 Bad Gateway")


@pytest.mark.parametrize("exc", [requests.ConnectionError, requests.ConnectTimeout, requests.ReadTimeout])
def test_connection_refused_or_timeout(hook, numbers_url, requests_mock, no_retry_sleep, exc):
    requests_mock.get(ANY, exc=exc("Connection refused"))

    ok, message = hook.test_connection()

    assert ok is False
    assert exc.__name__ in message
    assert numbers_url in message
    assert KEY not in message
    assert requests_mock.call_count == 1
    assert no_retry_sleep == []


def test_real_connection_refused(monkeypatch):
    import socket

    with socket.socket() as sock:  # find a free port, then close it so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = {"conn_type": "quo", "password": KEY, "host": f"http://127.0.0.1:{port}"}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_REFUSED", json.dumps(conn))

    ok, message = QuoHook(quo_conn_id="quo_refused").test_connection()

    assert ok is False
    assert message == f"GET http://127.0.0.1:{port}/v1/phone-numbers failed: connection refused by 127.0.0.1:{port}"


def test_missing_key_is_reported_not_raised(monkeypatch, requests_mock):
    monkeypatch.setenv("AIRFLOW_CONN_QUO_NOKEY", json.dumps({"conn_type": "quo", "host": "h.test"}))
    ok, message = QuoHook(quo_conn_id="quo_nokey").test_connection()
    assert ok is False
    assert "quo_nokey" in message
    assert "API key" in message
    assert requests_mock.call_count == 0


def test_bad_extra_is_reported_not_raised(monkeypatch, requests_mock):
    conn = {"conn_type": "quo", "password": KEY, "extra": {"requests_per_second": "abc"}}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_BADX", json.dumps(conn))
    ok, message = QuoHook(quo_conn_id="quo_badx").test_connection()
    assert ok is False
    assert "requests_per_second" in message
    assert requests_mock.call_count == 0


def test_200_with_non_json_body_fails(hook, numbers_url, requests_mock):
    requests_mock.get(numbers_url, text="<html>captive portal</html>", headers={"Content-Type": "text/html"})
    ok, message = hook.test_connection()
    assert ok is False
    assert "200" in message
