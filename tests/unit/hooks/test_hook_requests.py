"""QuoHook transport: method, URL, headers, base URL, settings from the connection, secrets."""

from __future__ import annotations

import json
from unittest import mock

import pytest
import requests

from airflow_provider_quo import __version__
from airflow_provider_quo.exceptions import QuoError, QuoUnexpectedResponseError
from airflow_provider_quo.hooks.api import Reading
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    QuoSettings,
    base_url_from_host,
    rate_limit_url,
)
from airflow_provider_quo.redaction import redact_url
from tests.unit.conftest import fake_budget

KEY = "test-key-Zq81xQ"
CONVERSATION = {"id": "CN123abc", "phoneNumberId": "PN1", "participants": ["+15555555555"]}


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    body = {"conn_type": "quo", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))


def test_post_sends_exact_method_url_and_headers(hook, quo_conn, requests_mock):
    requests_mock.post(f"{quo_conn}/v1/conversations/CN123abc/mark-as-read", json=CONVERSATION)

    assert hook.mark_conversation_as_read("CN123abc") == CONVERSATION

    assert requests_mock.call_count == 1
    sent = requests_mock.last_request
    assert sent.method == "POST"
    assert sent.url == "http://127.0.0.1:8999/v1/conversations/CN123abc/mark-as-read"
    assert sent.headers["Authorization"] == KEY
    assert "Bearer" not in sent.headers["Authorization"]
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"].startswith(f"airflow-provider-quo/{__version__} ")
    assert f"python-requests/{requests.__version__}" in sent.headers["User-Agent"]
    assert sent.body is None


def test_get_sends_query_pairs(hook, quo_conn, requests_mock):
    requests_mock.get(f"{quo_conn}/v1/phone-numbers", json={"data": []})

    assert hook.request("GET", "v1", "phone-numbers", params=[("a", "1"), ("a", "2")]) == {"data": []}
    assert requests_mock.last_request.url == f"{quo_conn}/v1/phone-numbers?a=1&a=2"


def test_empty_success_body_returns_empty_dict(hook, quo_conn, requests_mock):
    requests_mock.post(f"{quo_conn}/v1/conversations/CN1/mark-as-done", status_code=204, content=b"")
    assert hook.request("POST", "v1", "conversations", "CN1", "mark-as-done") == {}
    # ...but an empty body does not prove a mark: the mark itself fails, naming why.
    with pytest.raises(QuoUnexpectedResponseError, match="empty body"):
        hook.mark_conversation_as_done("CN1")


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("api.example.test", None, "https://api.example.test"),
        ("https://api.example.test/", None, "https://api.example.test"),
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080"),
        ("http://localhost", 8080, "http://localhost:8080"),
        ("HTTP://127.0.0.1:8080", None, "HTTP://127.0.0.1:8080"),
        ("http://[::1]:8080", None, "http://[::1]:8080"),
        ("api.example.test", 8443, "https://api.example.test:8443"),
        ("https://api.example.test", 8443, "https://api.example.test:8443"),
        ("https://proxy.test/quo", None, "https://proxy.test/quo"),
        ("", None, DEFAULT_BASE_URL),
        (None, None, DEFAULT_BASE_URL),
        ("   ", None, "https://api.quo.com"),
    ],
)
def test_base_url_from_host(host, port, expected):
    assert base_url_from_host(host, port) == expected


@pytest.mark.parametrize(
    "host",
    [
        "http://api.example.test",
        "http://quo.example.test:8080",
        "ftp://api.example.test",
        "http://127.example.test",  # a name that merely starts with 127.
        "http://example.test\\@127.0.0.1",  # parsers disagree on the host: refused outright
    ],
)
def test_plain_http_to_a_remote_host_is_refused(host):
    with pytest.raises(ValueError, match=r"use https|backslash") as caught:
        base_url_from_host(host)
    assert repr(host) in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "expected_url"),
    [
        ({"host": "api.example.test"}, "https://api.example.test/v1/phone-numbers"),
        ({"host": "https://api.example.test"}, "https://api.example.test/v1/phone-numbers"),
        ({"host": "http://127.0.0.1:8999"}, "http://127.0.0.1:8999/v1/phone-numbers"),
        ({}, "https://api.quo.com/v1/phone-numbers"),
    ],
)
def test_hook_base_url_from_connection(monkeypatch, requests_mock, unthrottle, fields, expected_url):
    set_conn(monkeypatch, "quo_b", password=KEY, **fields)
    hook = unthrottle(QuoHook(quo_conn_id="quo_b"))
    requests_mock.get(expected_url, json={"data": []})

    hook.request("GET", "v1", "phone-numbers")

    assert requests_mock.last_request.url == expected_url


@pytest.mark.parametrize("password", [None, "", "   "])
def test_missing_password_names_conn_id_and_sends_nothing(monkeypatch, requests_mock, password):
    fields = {"host": "http://127.0.0.1:8999"}
    if password is not None:
        fields["password"] = password
    set_conn(monkeypatch, "quo_nokey", **fields)
    hook = QuoHook(quo_conn_id="quo_nokey")

    with pytest.raises(QuoError, match=r"'quo_nokey'.*API key"):
        hook.mark_conversation_as_read("CN1")
    assert requests_mock.call_count == 0


def test_init_does_no_lookup_and_no_network(requests_mock):
    with mock.patch.object(QuoHook, "get_connection") as get_connection:
        hook = QuoHook(quo_conn_id="no_such_connection_xyz")
        assert hook.quo_conn_id == "no_such_connection_xyz"
        get_connection.assert_not_called()
    assert requests_mock.call_count == 0


def test_nonexistent_connection_fails_only_when_used(requests_mock):
    hook = QuoHook(quo_conn_id="no_such_connection_xyz")  # no error here
    with pytest.raises(Exception, match="no_such_connection_xyz"):
        hook.mark_conversation_as_read("CN1")
    assert requests_mock.call_count == 0


def test_default_timeouts_passed_to_requests(hook, quo_conn, requests_mock):
    requests_mock.get(f"{quo_conn}/v1/phone-numbers", json={})
    hook.request("GET", "v1", "phone-numbers")
    assert requests_mock.last_request.timeout == (DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT)
    assert (DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT) == (10.0, 30.0)


def test_timeouts_from_extras_and_constructor(monkeypatch, requests_mock, unthrottle):
    extra = {"timeout": "12.5", "connect_timeout": 3, "requests_per_second": 1000}
    set_conn(monkeypatch, "quo_t", password=KEY, host="https://h.test", extra=extra)
    requests_mock.get("https://h.test/v1/phone-numbers", json={})

    unthrottle(QuoHook(quo_conn_id="quo_t")).request("GET", "v1", "phone-numbers")
    assert requests_mock.last_request.timeout == (3.0, 12.5)

    unthrottle(QuoHook(quo_conn_id="quo_t", timeout=7)).request("GET", "v1", "phone-numbers")
    assert requests_mock.last_request.timeout == (3.0, 7.0)


def test_explicit_timeout_argument_wins(hook, quo_conn, requests_mock):
    requests_mock.get(f"{quo_conn}/v1/phone-numbers", json={})
    hook.request("GET", "v1", "phone-numbers", timeout=(1.0, 2.0))
    assert requests_mock.last_request.timeout == (1.0, 2.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("requests_per_second", "abc"),
        ("requests_per_second", 0),
        ("requests_per_second", -5),
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("connect_timeout", [1]),
        ("retry_limit", 0),
    ],
)
def test_bad_extras_raise_value_error_naming_the_extra(monkeypatch, requests_mock, name, value):
    set_conn(monkeypatch, "quo_bad", password=KEY, host="https://h.test", extra={name: value})
    hook = QuoHook(quo_conn_id="quo_bad")  # still fine: nothing read yet

    with pytest.raises(ValueError, match=rf"'quo_bad'.*{name}"):
        hook.mark_conversation_as_read("CN1")
    assert requests_mock.call_count == 0


def test_bad_constructor_rate_raises_value_error(quo_conn):
    with pytest.raises(ValueError, match="requests_per_second"):
        _ = QuoHook(requests_per_second=0.0).settings


def test_settings_from_connection_and_overrides(monkeypatch):
    extra = {"requests_per_second": "2.5", "retry_limit": "3", "timeout": ""}
    set_conn(monkeypatch, "quo_s", password=f"  {KEY}\n", host="h.test", extra=extra)

    settings = QuoHook(quo_conn_id="quo_s").settings
    assert settings == QuoSettings(
        api_key=KEY, base_url="https://h.test", requests_per_second=2.5, retry_limit=3, read_timeout=30.0
    )
    assert QuoHook(quo_conn_id="quo_s", retry_limit=9, requests_per_second=4).settings.retry_limit == 9
    # the extra is the key's budget; a hook's (or operator's) requests_per_second only caps its share
    assert QuoHook(quo_conn_id="quo_s", requests_per_second=4).budget.rate == 2.5
    assert QuoHook(quo_conn_id="quo_s", requests_per_second=2).budget.rate == 2.0


def test_repr_never_contains_key(hook, quo_conn, requests_mock):
    requests_mock.get(f"{quo_conn}/v1/phone-numbers", json={})
    hook.request("GET", "v1", "phone-numbers")  # settings and session now populated

    assert KEY not in repr(hook)
    assert KEY not in str(hook)
    assert KEY not in repr(hook.settings)
    assert KEY not in repr(hook.budget)
    assert "quo_default" in repr(hook)
    assert hook.settings.api_key == KEY


def test_key_is_registered_with_secret_masker(quo_conn):
    with mock.patch("airflow_provider_quo.hooks.quo.mask_secret") as mask_secret:
        hook = QuoHook()
        mask_secret.assert_not_called()
        _ = hook.settings
    mask_secret.assert_called_once_with(KEY)


def test_session_is_reused(hook, quo_conn, requests_mock):
    requests_mock.get(f"{quo_conn}/v1/phone-numbers", json={})
    hook.request("GET", "v1", "phone-numbers")
    session = hook.session
    hook.request("GET", "v1", "phone-numbers")
    assert hook.session is session
    assert requests_mock.call_count == 2


def test_each_request_waits_for_its_slot_in_the_keys_budget(hook, quo_conn, requests_mock, clock):
    hook.budget = fake_budget(clock, rate=10)
    requests_mock.get(f"{quo_conn}/v1/phone-numbers", json={})
    for _ in range(3):
        hook.request("GET", "v1", "phone-numbers")
    assert sum(clock.sleeps) == pytest.approx(0.2)
    assert requests_mock.call_count == 3


def test_hooks_of_one_key_share_its_budget(quo_conn):
    first, second = QuoHook(), QuoHook()
    assert first.budget is not second.budget
    assert first.budget.store is second.budget.store
    assert first.budget.rate == 100000


def test_ui_field_behaviour_matches_provider_info():
    behaviour = QuoHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["login", "schema", "port"]
    assert behaviour["relabeling"]["password"] == "API key"


@pytest.mark.parametrize(("rate", "expected"), [(10, 20), (1, 4), (100, 64), (7.2, 15)])
def test_default_workers(monkeypatch, rate, expected):
    set_conn(monkeypatch, "quo_w", password=KEY, extra={"requests_per_second": rate})
    assert QuoHook(quo_conn_id="quo_w").default_workers() == expected


@pytest.mark.parametrize(("extra", "expected"), [({}, 64), ({"requests_per_second": 10}, 20)])
def test_default_workers_grow_with_a_raised_limit_the_server_states(monkeypatch, extra, expected):
    """Unless the connection's number is a ceiling, a stated 60/s needs more than 10/s's 20 workers."""
    set_conn(monkeypatch, "quo_w", password=KEY, host="http://127.0.0.1:8999", extra=extra)
    hook = QuoHook(quo_conn_id="quo_w")
    assert hook.default_workers() == 20

    hook.budget.observe(Reading(quota=60, window=1, remaining=59, reset=1), 0.0, limited=False, retry_after=None)

    assert hook.default_workers() == expected


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
        store = hook.budget.store
    assert mock.call("pw-Secret-0x7") in mask_secret.call_args_list
    assert "pw-Secret-0x7" not in repr(hook.settings)
    assert "pw-Secret-0x7" not in repr(hook.budget)
    assert store.shown_url == "redis://user:***@127.0.0.1:6379/0"  # type: ignore[attr-defined]
    assert redact_url("redis://127.0.0.1") == "redis://127.0.0.1"
