"""A server slower than the read timeout, or gone: retried, then reported per id; the task never hangs.

The connection's ``timeout`` extra is 0.5 s and the simulator's ``slow`` fault holds a response for
1.5 s. A loaded machine can make an ordinary answer miss the timeout too, so no test counts on every
other request answering in time: retries are counted per request, and a slow answer always misses it. Each test
runs the call on a thread joined with a generous bound: exceeding it fails the test as a hang, and
no wall-time figure is asserted on calls that return.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_quo.exceptions import QuoBulkMarkError, QuoConnectionRefusedError, QuoTimeoutError
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.settings import DEFAULT_RETRY_LIMIT
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import Faults, QuoSimulator

pytestmark = pytest.mark.integration

READ_TIMEOUT = 0.5
SLOW_SECONDS = 1.5
#: Far above the worst case of these runs (a few seconds), far below a hang.
HANG_BOUND = 60.0

RunBounded = Callable[[Callable[[], Any], float], tuple[Any, BaseException | None]]


def settle(sim: QuoSimulator, timeout: float = HANG_BOUND) -> None:
    """Wait until the simulator has finished every request (a slow one is recorded when it answers)."""
    deadline = time.monotonic() + timeout
    while sim.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.stats()["in_flight"] == 0


def test_one_slow_id_is_retried_then_reported_failed_while_the_rest_are_marked(
    connect: Callable[..., None], context: dict[str, Any], run_bounded: RunBounded, no_retry_sleep: list[float]
) -> None:
    with QuoSimulator(api_key="timeout-key", conversations=40, seed=4) as sim:
        ids = sim.conversation_ids(deleted=False)[:30]
        slow_id = ids[7]
        connect(sim, timeout=READ_TIMEOUT)
        sim.faults = Faults(slow_seconds=SLOW_SECONDS)
        sim.fail_next(DEFAULT_RETRY_LIMIT, "slow", path_contains=slow_id)
        operator = MarkConversationReadOperator(task_id="timeouts", conversation_ids=ids, fail_on_error=False)

        summary, error = run_bounded(lambda: operator.execute(context), HANG_BOUND)

        assert error is None
        assert summary["marked_count"] == len(ids) - 1
        assert slow_id not in summary["marked"]
        assert list(summary["failed"]) == [slow_id]
        reason = summary["failed"][slow_id]
        assert "ReadTimeout" in reason
        assert f"/v1/conversations/{slow_id}/mark-as-read" in reason
        assert "\n" not in reason
        assert summary["failed_detail"][slow_id]["kind"] == "timeout"  # as data, like a timeout mid-body
        settle(sim)
        slow_requests = [r for r in sim.requests if slow_id in r.path]
        assert len(slow_requests) == DEFAULT_RETRY_LIMIT, "retried up to the retry limit, then given up"
        assert all(r.fault == "slow" for r in slow_requests)
        # One wait before every request that repeats an id: the slow id's five, and any other id's retry.
        assert len(no_retry_sleep) == len(sim.requests) - len(ids) >= DEFAULT_RETRY_LIMIT - 1
        # A timed-out request is not a failed one on the server: the slow answers still landed there.
        assert sim.read_ids() == set(ids)
        assert sim.state(slow_id) == {"read": True, "done": False, "mark_calls": DEFAULT_RETRY_LIMIT}


def test_a_server_slower_than_the_timeout_fails_the_task_instead_of_hanging(
    connect: Callable[..., None], context: dict[str, Any], run_bounded: RunBounded
) -> None:
    with QuoSimulator(api_key="timeout-key", conversations=30, seed=4) as sim:
        ids = sim.conversation_ids(deleted=False)[:20]
        connect(sim, timeout=READ_TIMEOUT, retry_limit=3)
        sim.faults = Faults(error_rate=1.0, kinds=("slow",), slow_seconds=SLOW_SECONDS)
        operator = MarkConversationReadOperator(task_id="timeouts", conversation_ids=ids)

        _, error = run_bounded(lambda: operator.execute(context), HANG_BOUND)

        assert isinstance(error, QuoBulkMarkError)
        summary = error.summary
        assert (summary["marked_count"], summary["failed_count"], summary["not_attempted_count"]) == (0, 20, 0)
        assert all("ReadTimeout" in reason for reason in summary["failed"].values())
        assert "20 failed" in str(error)
        settle(sim)
        assert len(sim.requests) == 20 * 3


def test_hook_raises_quo_timeout_error_after_retrying_a_timeout(
    connect: Callable[..., None], run_bounded: RunBounded
) -> None:
    with QuoSimulator(api_key="timeout-key", conversations=10, seed=4) as sim:
        cid = sim.conversation_ids(deleted=False)[0]
        connect(sim, timeout=READ_TIMEOUT, retry_limit=4)
        sim.faults = Faults(slow_seconds=SLOW_SECONDS)
        sim.fail_next(4, "slow")

        _, error = run_bounded(lambda: QuoHook().mark_conversation_as_read(cid), HANG_BOUND)

        assert type(error) is QuoTimeoutError  # a QuoConnectionError, whose summary kind is "timeout"
        assert "ReadTimeout" in str(error)
        settle(sim)
        assert len(sim.requests) == 4


def test_a_slow_response_within_the_retry_budget_recovers(
    connect: Callable[..., None], run_bounded: RunBounded
) -> None:
    with QuoSimulator(api_key="timeout-key", conversations=10, seed=4) as sim:
        cid = sim.conversation_ids(deleted=False)[0]
        connect(sim, timeout=READ_TIMEOUT)
        sim.faults = Faults(slow_seconds=SLOW_SECONDS)
        sim.fail_next(2, "slow")

        conversation, error = run_bounded(lambda: QuoHook().mark_conversation_as_read(cid), HANG_BOUND)

        assert error is None
        assert conversation["id"] == cid
        settle(sim)
        assert [r.fault for r in sim.requests].count("slow") == 2
        assert len(sim.requests) >= 3  # 3 unless the machine made an ordinary answer miss the timeout too


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_reported_per_id_without_hanging(
    monkeypatch: pytest.MonkeyPatch, context: dict[str, Any], run_bounded: RunBounded
) -> None:
    port = free_port()  # nothing listens there
    connection = {
        "conn_type": "quo",
        "password": "refused-key",
        "host": f"http://127.0.0.1:{port}",
        "extra": {"requests_per_second": 100_000, "retry_limit": 3},
    }
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", json.dumps(connection))
    operator = MarkConversationReadOperator(task_id="refused", conversation_ids=["CNa1", "CNa2", "CNa3"])

    _, error = run_bounded(lambda: operator.execute(context), HANG_BOUND)

    assert isinstance(error, QuoConnectionRefusedError), "every id would fail alike: the run stops at once"
    assert str(error).endswith(f"failed: connection refused by 127.0.0.1:{port}"), "short: no urllib3 chain"
    summary = {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}["return_value"]
    assert (summary["failed_count"], summary["not_attempted_count"]) == (1, 2)
    assert summary["failed_detail"]["CNa1"]["kind"] == "connection_refused"
