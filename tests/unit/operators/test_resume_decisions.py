"""A resumed task decides as an uninterrupted one, for every kind of failure in the table.

The checkpoint keeps each failure's ``kind`` as the error gave it; the retry of a killed task reads it
back as stored. For each row of :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`, one id fails
with that kind: the run once uninterrupted, and once killed right after that failure settled (no
checkpoint written after the kill) and resumed by a second try that gets the same answers. The
summary (counts, reasons, kinds and statuses), the error that fails the task, the retry policy's
decision, the watermark's and what the checkpoint resends are the same.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Iterable
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.compat import RETRY_POLICY_SUPPORTED
from airflow_provider_quo.dispositions import DISPOSITIONS
from airflow_provider_quo.exceptions import (
    QuoAPIError,
    QuoAuthenticationError,
    QuoBadRequestError,
    QuoConnectionError,
    QuoConnectionRefusedError,
    QuoInvalidConversationIdError,
    QuoNotFoundError,
    QuoNotSentError,
    QuoPermissionError,
    QuoRateLimitError,
    QuoServerError,
    QuoTimeoutError,
    QuoTLSError,
    QuoUnexpectedResponseError,
)
from airflow_provider_quo.hooks.quo import Outcome, QuoHook
from airflow_provider_quo.operators import checkpoint
from airflow_provider_quo.operators._summary import Failure, MarkSummary, commits_watermark, may_succeed_later
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

#: One error of each kind in the table.
EXAMPLES: dict[str, BaseException] = {
    "400": QuoBadRequestError(status=422, title="Unprocessable Entity", message="bad"),
    "401": QuoAuthenticationError(status=401, title="Unauthorized"),
    "403": QuoPermissionError(status=403, title="Not Phone Number User"),
    "404": QuoNotFoundError(status=404, title="Not Found"),
    "408": QuoAPIError(status=408, title="Request Timeout"),
    "429": QuoRateLimitError(status=429, title="Too Many Requests", retry_after=7.0),
    "5xx": QuoServerError(status=503, title="Service Unavailable"),
    "5xx_permanent": QuoServerError(status=501, title="Not Implemented"),
    "http_other": QuoAPIError(status=409, title="Conflict"),
    "unexpected_response": QuoUnexpectedResponseError(status=200, title="Unexpected response", message="no id"),
    "tls": QuoTLSError("POST https://x failed: TLS error: certificate verify failed"),
    "timeout": QuoTimeoutError("POST https://x failed: ReadTimeout"),
    "connection": QuoConnectionError("POST https://x failed: ConnectionError: reset"),
    "connection_refused": QuoConnectionRefusedError("POST https://x failed: connection refused"),
    "not_sent": QuoNotSentError("the run stopped"),
    "bad_input": QuoInvalidConversationIdError("bad id"),
    "other": RuntimeError("boom"),
}
IDS = ["CN0", "CN1", "CN2", "CN3"]
FAILING = "CN1"


class WorkerKilled(BaseException):
    """Stands for the SIGKILL of the task process."""


class DeadOnKillStore:
    """A task_state_store stand-in that keeps JSON text, as the metadata DB does, and takes no write once the
    process is 'killed'."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.dead = False

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        if not self.dead:
            self.values[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        if not self.dead:
            self.values.pop(key, None)


class Server:
    """The answers: ``FAILING`` fails with ``error``, every other id is marked; a try may die after ``die_after``
    outcomes. ``sent`` lists each try's ids."""

    def __init__(self, error: BaseException, store: DeadOnKillStore) -> None:
        self.error, self.store = error, store
        self.die_after: int | None = None
        self.sent: list[list[str]] = []

    def mark_conversations(
        self, ids: Iterable[str], *, stop_taking: threading.Event
    ) -> Generator[Outcome[str, dict[str, Any]], None, None]:
        sent: list[str] = []
        self.sent.append(sent)
        for cid in ids:
            if self.die_after is not None and len(sent) == self.die_after:
                self.store.dead = True
                raise WorkerKilled
            if stop_taking.is_set():
                return
            sent.append(cid)
            error = self.error if cid == FAILING else None
            yield Outcome(cid, result=None if error else {"id": cid}, error=error)


@pytest.fixture(autouse=True)
def save_every_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every outcome is written at once, so the kill loses none (the frequency is test_checkpoint's)."""
    monkeypatch.setattr(checkpoint, "CHECKPOINT_SECONDS", 0.0)


def run_try(server: Server, try_number: int, on_not_found: str) -> tuple[dict[str, Any], BaseException | None]:
    """One try of the task instance: its summary (returned, or stored before the error) and its error."""
    op = MarkConversationReadOperator(task_id="mark", conversation_ids=IDS, on_not_found=on_not_found)
    ti = mock.MagicMock(max_tries=1, try_number=try_number)
    context: Any = {"ti": ti, "task_state_store": server.store}
    fake = lambda hook, ids, action, max_workers, stop_taking: server.mark_conversations(ids, stop_taking=stop_taking)  # noqa: E731
    with mock.patch.object(QuoHook, "mark_conversations", fake):
        try:
            return op.execute(context), None
        except Exception as error:
            [stored] = [c.kwargs["value"] for c in ti.xcom_push.call_args_list if c.kwargs["key"] == "return_value"]
            return stored, error


def decisions(summary: dict[str, Any], error: BaseException | None) -> dict[str, Any]:
    """Every decision a summary and a task's error lead to, the summary itself included."""
    made = {
        "summary": {k: v for k, v in summary.items() if k != "elapsed_seconds"},
        "error": None if error is None else (type(error).__name__, str(error)),
        "commits_watermark": commits_watermark(summary),
        "may_succeed_later": may_succeed_later(summary),
    }
    if RETRY_POLICY_SUPPORTED and error is not None:
        from airflow_provider_quo.retry_policy import QuoRetryPolicy

        decision = QuoRetryPolicy().evaluate(error, try_number=1, max_tries=2)
        made["task_retry"] = (decision.action.value, decision.retry_delay, decision.reason)
    return made


def test_every_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(DISPOSITIONS)
    assert {kind: getattr(error, "kind", None) for kind, error in EXAMPLES.items() if kind != "other"} == {
        kind: kind for kind in EXAMPLES if kind != "other"
    }


@pytest.mark.parametrize("on_not_found", ["skip", "fail"])
@pytest.mark.parametrize("kind", list(DISPOSITIONS))
def test_a_resumed_task_decides_as_an_uninterrupted_one(
    quo_conn: str, kind: str, on_not_found: str, requests_mock: Any
) -> None:
    error = EXAMPLES[kind]
    whole = Server(error, DeadOnKillStore())
    expected = decisions(*run_try(whole, 1, on_not_found))

    killed = Server(error, DeadOnKillStore())
    killed.die_after = 2  # CN0 and CN1 settled and written; CN2 and CN3 never sent
    with pytest.raises(WorkerKilled):
        run_try(killed, 1, on_not_found)
    killed.die_after = None
    resumed = decisions(*run_try(killed, 2, on_not_found))

    assert resumed == expected
    detail = expected["summary"]["failed_detail"].get(FAILING)
    assert detail is None or detail == {"kind": kind, "status": getattr(error, "status", None)}, "the kind as found"
    sent_again = [FAILING] if kind == "not_sent" or DISPOSITIONS[kind].resent_on_resume else []
    stopped = DISPOSITIONS[kind].stops_run and FAILING in sent_again
    assert killed.sent[1] == sent_again + ([] if stopped else ["CN2", "CN3"])
    assert requests_mock.call_count == 0


def test_an_unknown_kind_in_a_checkpoint_is_sent_again() -> None:
    progress = checkpoint.Progress("digest", 2, series=1, first_try=1, last_try=1)
    progress.settle(0, Failure("failed in a later version", "a kind of a later version"))
    progress.settle(1, Failure("Quo API 404 Not Found", "404", 404))
    assert progress.resend(same_series=True) == {0}
    assert progress.resend(same_series=False) == {0, 1}, "a cleared task sends every failed id again"


def test_a_checkpoint_needs_a_task_state_store() -> None:
    ids = ["CN1", "CN2"]
    operator = MarkConversationReadOperator(task_id="mark", conversation_ids=ids)
    ti = mock.MagicMock(max_tries=2, try_number=1)
    assert operator._resume({"ti": ti}, ids, MarkSummary("read", 2)) == ids  # Airflow 3.1/3.2
    assert operator._checkpoint is None
    store = mock.MagicMock(get=mock.MagicMock(return_value=None))
    assert operator._resume({"ti": ti, "task_state_store": store}, ids, MarkSummary("read", 2)) == ids
    assert operator._checkpoint is not None
    assert (operator._checkpoint.progress.series, operator._checkpoint.progress.first_try) == (2, 1)
