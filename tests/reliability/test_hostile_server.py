"""A hostile or broken server: every misbehaviour ends as a typed ``QuoError``, never a raw exception.

The simulator's ``Faults(hostile=...)`` answers every request with a truncated JSON body, a 5 MB body,
an HTML page served as 200, or a proxy's HTML 500 page. Whatever the endpoint (mark, list, connection
test), the caller sees a :class:`~airflow_provider_quo.exceptions.QuoError` subclass (or, for the
valid-but-huge body, a result), and every error string is one printable line of bounded length.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_provider_quo.exceptions import (
    QuoAPIError,
    QuoBulkMarkError,
    QuoError,
    QuoServerError,
    QuoUnexpectedResponseError,
)
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.settings import DEFAULT_RETRY_LIMIT
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import Faults, QuoSimulator

pytestmark = pytest.mark.integration

#: The longest error string accepted (a Quo error line with its trace id is about 150 characters; the
#: library cuts a line at 500 characters and adds the trace id and, for 401/403, a hint).
MAX_ERROR_CHARS = 700
HUGE_BYTES = 5_000_000
UNDER_CAP_BYTES = 3_000_000

#: hostile kind -> (error class, attempts per call): a 200 that is not JSON is not retried (repeating
#: it cannot help), a 500 is retried up to the retry limit.
TYPED: dict[str, tuple[type[QuoAPIError], int]] = {
    "malformed_json": (QuoUnexpectedResponseError, 1),
    "wrong_content_type": (QuoUnexpectedResponseError, 1),
    "html_error": (QuoServerError, DEFAULT_RETRY_LIMIT),
}


def assert_one_bounded_line(error: BaseException) -> None:
    text = str(error)
    assert text, "an empty message"
    assert len(text) <= MAX_ERROR_CHARS, f"{len(text)} characters"
    assert "\n" not in text
    assert "\r" not in text
    assert text.isprintable()


def raw_error(call: Callable[[], Any]) -> BaseException:
    """The exception ``call`` raises, asserting it is a QuoError and not a raw library exception."""
    caught: BaseException | None = None
    try:
        call()
    except Exception as error:
        caught = error
    if caught is None:
        pytest.fail("no error raised")
    if not isinstance(caught, QuoError) or isinstance(caught, (requests.RequestException, json.JSONDecodeError)):
        pytest.fail(f"raw {type(caught).__module__}.{type(caught).__name__} escaped: {caught!r}"[:500])
    return caught


@pytest.mark.parametrize("kind", list(TYPED))
@pytest.mark.parametrize("endpoint", ["mark", "list"])
def test_hostile_body_becomes_a_typed_one_line_error(connect: Callable[..., None], kind: str, endpoint: str) -> None:
    error_class, attempts = TYPED[kind]
    with QuoSimulator(api_key="hostile-key", conversations=5) as sim:
        cid = sim.conversation_ids()[0]
        connect(sim)
        sim.faults = Faults(hostile=kind)
        hook = QuoHook()
        calls = {"mark": lambda: hook.mark_conversation_as_read(cid), "list": lambda: list(hook.iter_conversations())}
        call = calls[endpoint]

        error = raw_error(call)

        assert type(error) is error_class
        assert isinstance(error, QuoAPIError)
        assert error.status == (500 if kind == "html_error" else 200)
        assert_one_bounded_line(error)
        assert len(sim.requests) == attempts
        assert sim.read_ids() == set()


@pytest.mark.parametrize("kind", list(TYPED))
def test_hostile_body_fails_the_connection_test_with_a_short_message(connect: Callable[..., None], kind: str) -> None:
    with QuoSimulator(api_key="hostile-key", conversations=5) as sim:
        connect(sim)
        sim.faults = Faults(hostile=kind)

        ok, message = QuoHook().test_connection()

        assert ok is False
        assert 0 < len(message) <= MAX_ERROR_CHARS
        assert "\n" not in message
        assert len(sim.requests) == 1, "the connection test never retries"


@pytest.mark.parametrize("kind", list(TYPED))
def test_hostile_body_is_reported_per_id_by_the_operator(connect: Callable[..., None], kind: str) -> None:
    with QuoSimulator(api_key="hostile-key", conversations=12) as sim:
        ids = sim.conversation_ids(deleted=False)[:10]
        connect(sim, retry_limit=2)
        sim.faults = Faults(hostile=kind)
        operator = MarkConversationReadOperator(task_id="hostile", conversation_ids=ids)

        error = raw_error(lambda: operator.execute({"ti": _Ti()}))

        assert isinstance(error, QuoBulkMarkError)
        assert_one_bounded_line(error)
        assert error.summary["failed_count"] == 10
        for reason in error.summary["failed"].values():
            assert 0 < len(reason) <= MAX_ERROR_CHARS
            assert "\n" not in reason
        assert len(json.dumps(error.summary)) < 10 * MAX_ERROR_CHARS + 2_000


def test_large_valid_body_under_the_cap_is_handled_without_a_raw_error(connect: Callable[..., None]) -> None:
    """A 3 MB JSON body (under the 4 MiB cap) is valid JSON: the call returns normally, nothing reaches the summary."""
    huge = Faults(hostile="huge", huge_bytes=UNDER_CAP_BYTES)
    with QuoSimulator(api_key="hostile-key", conversations=12, faults=huge) as sim:
        ids = sim.conversation_ids(deleted=False)[:3]
        connect(sim)
        hook = QuoHook()

        assert list(hook.iter_conversations()) == []  # {"data": [], "nextPageToken": null, ...}
        operator = MarkConversationReadOperator(task_id="huge", conversation_ids=ids, fail_on_error=False)
        summary = operator.execute({"ti": _Ti()})

        assert summary["requested"] == 3
        assert summary["failed_count"] == 3, "a 200 without the conversation proves nothing"
        assert all("no conversation id" in reason for reason in summary["failed"].values())
        assert len(json.dumps(summary)) < 5_000, "the summary holds ids and counts, never response bodies"
        assert len(sim.requests) == 1 + 3


def test_body_over_the_cap_is_a_typed_error_after_one_request(connect: Callable[..., None]) -> None:
    """A 5 MB body is over MAX_BODY_BYTES (4 MiB): a typed, one-line error, not retried, nothing parsed."""
    huge = Faults(hostile="huge", huge_bytes=HUGE_BYTES)
    with QuoSimulator(api_key="hostile-key", conversations=5, faults=huge) as sim:
        connect(sim)

        error = raw_error(lambda: list(QuoHook().iter_conversations()))

        assert type(error) is QuoUnexpectedResponseError
        assert "larger than 4194304 bytes" in str(error)
        assert_one_bounded_line(error)
        assert len(sim.requests) == 1


@pytest.mark.parametrize("status", [400, 404, 429, 500])
def test_oversized_json_error_fields_are_cut_to_one_bounded_line(status: int) -> None:
    """Not from the simulator (it never sends this): a JSON error body with megabyte-long multi-line fields."""
    from airflow_provider_quo.exceptions import error_from_response

    response = requests.Response()
    response.status_code = status
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps(
        {
            "message": "line\n" * 200_000,
            "title": "Bad\r\nTitle",
            "trace": "t" * 10_000,
            "errors": [{"path": "/conversationId", "message": "m" * 100_000}],
        }
    ).encode()

    error = error_from_response(response)

    assert isinstance(error, QuoAPIError)
    assert_one_bounded_line(error)
    assert str(error).startswith(f"Quo API {status} Bad Title: line line")
    assert "(trace ttt" in str(error), "the trace id survives the cut"


class _Ti:
    """A task instance stand-in that records XCom pushes."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value
