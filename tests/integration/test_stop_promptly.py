"""Stopping promptly, against a real server that counts requests: after ``on_kill`` or a 401, workers
that took an id but still wait for their throttle slot send nothing; only requests already on the
wire go out. The throttle is slow (2/s) and the pool large (10 workers), so up to 10 ids wait at once.
What arrived is counted once the stop is set (answered or still in the server): what may follow is only
a request released before then and not yet arrived, one at a time 0.5 s apart."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.exceptions import QuoAuthenticationError, QuoBulkMarkError
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import QuoSimulator

pytestmark = pytest.mark.integration

KEY = "stop-promptly-key-8Tq"
IDS = 60
#: Requests that may still arrive after the stop is set: released by the throttle before it, not yet at the
#: server (one in practice; a second only if one took more than the 0.5 s between two slots to arrive).
ON_THE_WIRE = 2


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Any:
    with QuoSimulator(api_key=KEY, conversations=IDS + 10, seed=5, latency=0.05) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", sim.connection_json({"requests_per_second": 2}))
        yield sim


def start_operator(ids: list[str]) -> tuple[MarkConversationReadOperator, threading.Thread, list[BaseException]]:
    operator = MarkConversationReadOperator(task_id="stop", conversation_ids=ids, max_workers=10, progress_interval=60)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            operator.execute({"ti": mock.MagicMock()})  # type: ignore[arg-type]
        except Exception as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return operator, thread, errors


def wait_for_posts(sim: QuoSimulator, count: int) -> None:
    tick = threading.Event()
    while sim.request_count(method="POST") < count:
        tick.wait(0.01)


def arrived(sim: QuoSimulator) -> int:
    """The requests the server has seen: answered, or still being answered."""
    return sim.request_count(method="POST") + sim.stats()["in_flight"]


def test_on_kill_sends_nothing_more_than_what_is_on_the_wire(simulator: QuoSimulator) -> None:
    ids = simulator.conversation_ids(deleted=False)[:IDS]
    operator, thread, errors = start_operator(ids)
    wait_for_posts(simulator, 3)
    operator.on_kill()
    sent_at_kill = arrived(simulator)
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert simulator.request_count(method="POST") <= sent_at_kill + ON_THE_WIRE
    (error,) = errors
    assert isinstance(error, QuoBulkMarkError)
    summary = error.summary
    assert summary["failed_count"] == 0
    assert summary["marked_count"] == simulator.request_count(method="POST") == len(simulator.read_ids())
    assert summary["marked_count"] + summary["not_attempted_count"] == IDS, "every id accounted for"


def test_after_a_401_nothing_more_than_what_is_on_the_wire(simulator: QuoSimulator) -> None:
    ids = simulator.conversation_ids(deleted=False)[:IDS]
    _, thread, errors = start_operator(ids)
    wait_for_posts(simulator, 3)
    simulator._app.api_key = "revoked-now"  # the key is revoked mid-run: every later request is a 401
    thread.join(timeout=60)

    assert not thread.is_alive()
    (error,) = errors
    assert isinstance(error, QuoAuthenticationError)
    assert simulator.request_count(status=401) <= ON_THE_WIRE
