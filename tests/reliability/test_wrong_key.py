"""A wrong API key stops the run at once (even with ``fail_on_error=False``): at most 2 requests, a message
that says to check the key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_quo.exceptions import QuoAuthenticationError
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import QuoSimulator

pytestmark = pytest.mark.integration

RIGHT_KEY = "right-key-0d9a6e2b71"
WRONG_KEY = "wrong-key-5c83f1e07a"
IDS = 500


def connect_with_key(monkeypatch: pytest.MonkeyPatch, sim: QuoSimulator, key: str) -> None:
    connection = json.loads(sim.connection_json({"requests_per_second": 100_000}))
    connection["password"] = key
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", json.dumps(connection))


@pytest.mark.parametrize(
    ("transient_first", "expected_requests", "fail_on_error"),
    [
        pytest.param(False, 1, False, id="401-at-once-even-with-fail_on_error-false"),
        pytest.param(True, 2, True, id="503-then-401"),
    ],
)
def test_wrong_key_fails_the_run_after_at_most_two_requests(
    monkeypatch: pytest.MonkeyPatch,
    context: dict[str, Any],
    pushed_xcoms: Callable[[dict[str, Any]], dict[str, Any]],
    transient_first: bool,
    expected_requests: int,
    fail_on_error: bool,
) -> None:
    with QuoSimulator(api_key=RIGHT_KEY, conversations=IDS + 60, seed=2) as sim:
        ids = sim.conversation_ids(deleted=False)[:IDS]
        connect_with_key(monkeypatch, sim, WRONG_KEY)
        if transient_first:
            sim.fail_next(1, "503")
        operator = MarkConversationReadOperator(task_id="wrong_key", conversation_ids=ids, fail_on_error=fail_on_error)

        with pytest.raises(QuoAuthenticationError) as raised:
            operator.execute(context)

        assert len(sim.requests) == expected_requests <= 2
        assert sim.request_count(status=401) == 1
        assert all(not r.authorized for r in sim.requests)
        assert sim.read_ids() == set()
        message = str(raised.value)
        assert "check the API key" in message
        assert "401" in message
        assert "Unauthorized: Unauthorized" not in message, "the title is said once"
        assert WRONG_KEY not in message
        assert RIGHT_KEY not in message
        summary = pushed_xcoms(context)["return_value"]  # a failed task's summary: where a success's goes
        assert (summary["failed_count"], summary["marked_count"], summary["not_attempted_count"]) == (1, 0, IDS - 1)
        assert list(summary["failed"].values()) == [" ".join(message.split())], "the id's reason is the error"
        assert WRONG_KEY not in json.dumps(summary)


def test_wrong_key_connection_test_says_check_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with QuoSimulator(api_key=RIGHT_KEY, conversations=5) as sim:
        connect_with_key(monkeypatch, sim, WRONG_KEY)

        ok, message = QuoHook().test_connection()

        assert ok is False
        assert message == "401 Unauthorized: check the API key"
        assert len(sim.requests) == 1
        assert sim.requests[0].path == "/v1/phone-numbers"
