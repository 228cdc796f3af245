"""Bulk marking against a real server: concurrent, yet never faster than the throttle allows.

The simulator answers with real latency and enforces a strict per-key token bucket (429 beyond it),
so a serial client would have one request in flight and a client that outran its throttle would
collect 429s. These tests assert the shape of the traffic, not wall time: how many requests were
in flight and how many were rejected.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.operators.mark_conversation_done import MarkConversationDoneOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import QuoSimulator

pytestmark = pytest.mark.integration

KEY = "bulk-concurrency-key"
RATE = 40.0  # requests/s for both the client throttle and the server's token bucket
LATENCY = 0.15  # seconds per response: a serial loop would reach only 1 / 0.15 = 6.7 requests/s
IDS = 60


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Any:
    with QuoSimulator(api_key=KEY, conversations=IDS + 20, seed=7, rate_limit=RATE, latency=LATENCY) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", sim.connection_json({"requests_per_second": RATE}))
        yield sim


@pytest.mark.parametrize("operator_class", [MarkConversationReadOperator, MarkConversationDoneOperator])
def test_marks_concurrently_within_the_rate_limit(simulator: Any, operator_class: type) -> None:
    ids = simulator.conversation_ids(deleted=False)[:IDS]
    operator = operator_class(task_id="bulk", conversation_ids=ids, include_marked_ids=False)

    summary = operator.execute({"ti": mock.MagicMock()})

    assert summary["marked_count"] == IDS
    posts = [r for r in simulator.requests if r.method == "POST"]
    assert len(posts) == IDS, "one request per id: the throttle, not 429 retries, met the limit"
    assert simulator.request_count(status=429) == 0
    # Serial sending would never have more than one request in flight. Requests start 1/RATE apart and
    # each takes LATENCY, so about RATE * LATENCY = 6 overlap: the throttle, not the 64 workers, bounds
    # them. Unthrottled, nearly all 60 would be under way at once; the bound is half that, so that a loaded
    # machine, whose server answers late and so holds more at once, stays far below it.
    assert 2 <= simulator.max_in_flight <= IDS // 2
    # No 429 from a strict bucket of capacity RATE over 1.5 x RATE ids means the client never outran it
    # (a burst would have drained the bucket). The arrival times themselves are not asserted: under load
    # the server's threads see requests late and bunched, which says nothing about the client's pacing
    # (unit-tested on a fake clock in tests/unit/hooks/test_budget.py).
    action = operator_class.action
    state = "read" if action == "read" else "done"
    assert all(simulator.state(cid)[state] for cid in ids)


def test_max_workers_bounds_requests_in_flight(simulator: Any) -> None:
    ids = simulator.conversation_ids(deleted=False)[:30]
    operator = MarkConversationReadOperator(task_id="bulk", conversation_ids=ids, max_workers=3)

    summary = operator.execute({"ti": mock.MagicMock()})

    assert summary["marked_count"] == 30
    assert 2 <= simulator.max_in_flight <= 3
    assert simulator.request_count(status=429) == 0
