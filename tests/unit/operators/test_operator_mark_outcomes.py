"""Mark operators: the returned summary and its invariant, not-found handling, failures, and what stops a run."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from unittest import mock

import pytest
import requests

from airflow_provider_quo.exceptions import QuoAuthenticationError, QuoBulkMarkError, QuoError
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from tests.mark_echo import echo_conversation
from tests.mark_summary import assert_invariant

MARK_READ = re.compile(r"/v1/conversations/[^/?]+/mark-as-read$")
TASK_LOG = logging.getLogger("test.quo.outcomes")


@pytest.fixture(autouse=True)
def stdlib_task_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MarkConversationReadOperator, "log", property(lambda self: TASK_LOG))


def error_body(status: int, title: str, message: str, trace: str, **extra: Any) -> dict[str, Any]:
    body = {"message": message, "code": f"1000{status}", "status": status, "docs": "https://quo.com/docs"}
    return {"status_code": status, "json": {**body, "title": title, "trace": trace, **extra}}


NOT_FOUND = error_body(404, "Not Found", "Conversation not found", "tr-404")
BAD_REQUEST = error_body(
    400,
    "Bad Request",
    "Invalid\nrequest   body",
    "tr-400",
    errors=[{"path": "/conversationId", "message": "Expected string to match '^CN(.*)$'"}],
)
UNAUTHORIZED = error_body(401, "Unauthorized", "Invalid API key", "tr-401")
FORBIDDEN = error_body(403, "Not Phone Number User", "Not Phone Number User", "tr-403")


def url(base: str, cid: str) -> str:
    return f"{base}/v1/conversations/{cid}/mark-as-read"


def conversation(cid: str) -> dict[str, Any]:
    return {"id": cid, "phoneNumberId": "PN1", "participants": ["+15550000000"], "lastActivityAt": None}


def mock_ids(requests_mock: Any, base: str, ok: list[str], **responses: dict[str, Any]) -> None:
    for cid in ok:
        requests_mock.post(url(base, cid), json=conversation(cid))
    for cid, response in responses.items():
        requests_mock.post(url(base, cid), **response)


def run(op: MarkConversationReadOperator) -> tuple[dict[str, Any], mock.MagicMock]:
    ti = mock.MagicMock()
    return op.execute({"ti": ti}), ti


def pushed(ti: mock.MagicMock, key: str) -> list[Any]:
    return [c.kwargs["value"] for c in ti.xcom_push.call_args_list if c.kwargs.get("key") == key]


def test_summary_shape_counts_and_reasons(requests_mock: Any, quo_conn: str, summary_keys: list[str]) -> None:
    mock_ids(requests_mock, quo_conn, ["CN1", "CN2", "CN5"], CN3=NOT_FOUND, CN4=BAD_REQUEST)
    op = MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2 CN3 CN4 CN5", fail_on_error=False)

    summary, ti = run(op)

    assert set(summary) == set(summary_keys)
    assert summary["action"] == "read"
    assert summary["dry_run"] is False
    assert (summary["requested"], summary["marked_count"]) == (5, 3)
    assert (summary["not_found_count"], summary["failed_count"], summary["not_attempted_count"]) == (1, 1, 0)
    assert sorted(summary["marked"]) == ["CN1", "CN2", "CN5"]
    assert summary["not_found"] == ["CN3"]
    assert list(summary["failed"]) == ["CN4"]
    reason = summary["failed"]["CN4"]
    assert "\n" not in reason
    assert "400" in reason
    assert "Invalid request body" in reason
    assert "tr-400" in reason
    assert isinstance(summary["elapsed_seconds"], float)
    assert summary["elapsed_seconds"] >= 0
    assert json.loads(json.dumps(summary)) == summary
    assert ti.xcom_push.call_args_list == [], "the summary is the return value: Airflow stores it, once"


def test_include_marked_ids_false_keeps_only_counts(requests_mock: Any, quo_conn: str) -> None:
    mock_ids(requests_mock, quo_conn, ["CN1", "CN2", "CN3"], CN4=NOT_FOUND)
    op = MarkConversationReadOperator(
        task_id="t", conversation_ids=["CN1", "CN2", "CN3", "CN4"], include_marked_ids=False
    )

    summary, _ = run(op)

    assert summary["marked_count"] == 3
    assert summary["marked"] == []
    assert summary["not_found"] == ["CN4"]
    assert requests_mock.call_count == 4


def test_return_conversations_pushes_objects_under_their_own_key(requests_mock: Any, quo_conn: str) -> None:
    mock_ids(requests_mock, quo_conn, ["CN1", "CN2"], CN3=NOT_FOUND)
    op = MarkConversationReadOperator(task_id="t", conversation_ids=["CN1", "CN2", "CN3"], return_conversations=True)

    summary, ti = run(op)

    [objects] = pushed(ti, "conversations")
    assert sorted(objects, key=lambda c: c["id"]) == [conversation("CN1"), conversation("CN2")]
    assert "participants" not in json.dumps(summary)  # the summary holds ids only


def test_conversations_not_pushed_by_default(requests_mock: Any, quo_conn: str) -> None:
    mock_ids(requests_mock, quo_conn, ["CN1"])
    _, ti = run(MarkConversationReadOperator(task_id="t", conversation_ids="CN1"))
    assert ti.xcom_push.call_args_list == [], "nothing besides the returned summary"


def test_on_not_found_skip_records_not_found_and_succeeds(requests_mock: Any, quo_conn: str) -> None:
    mock_ids(requests_mock, quo_conn, ["CN1"], CN2=NOT_FOUND)
    summary, ti = run(MarkConversationReadOperator(task_id="t", conversation_ids="CN1,CN2", on_not_found="skip"))

    assert summary["not_found"] == ["CN2"]
    assert summary["failed"] == {}
    assert ti.xcom_push.call_args_list == [], "the summary is the return value: Airflow stores it, once"


def test_on_not_found_fail_counts_a_404_as_failure(requests_mock: Any, quo_conn: str) -> None:
    mock_ids(requests_mock, quo_conn, ["CN1"], CN2=NOT_FOUND)
    op = MarkConversationReadOperator(task_id="t", conversation_ids="CN1,CN2", on_not_found="fail")

    with pytest.raises(QuoBulkMarkError) as excinfo:
        run(op)

    summary = excinfo.value.summary
    assert summary["not_found"] == []
    assert list(summary["failed"]) == ["CN2"]
    assert "404" in summary["failed"]["CN2"]
    assert "Conversation not found" in summary["failed"]["CN2"]
    assert summary["marked"] == ["CN1"]


def test_on_not_found_fail_without_fail_on_error_returns(requests_mock: Any, quo_conn: str) -> None:
    mock_ids(requests_mock, quo_conn, [], CN2=NOT_FOUND)
    op = MarkConversationReadOperator(task_id="t", conversation_ids="CN2", on_not_found="fail", fail_on_error=False)
    summary, _ = run(op)
    assert summary["failed_count"] == 1


@pytest.mark.parametrize("value", ["ignore", "SKIP", "", None])
def test_invalid_on_not_found_is_rejected_at_construction(value: Any) -> None:
    with pytest.raises(ValueError, match="on_not_found"):
        MarkConversationReadOperator(task_id="t", conversation_ids="CN1", on_not_found=value)


def test_fail_on_error_tries_every_id_then_raises_with_counts(requests_mock: Any, quo_conn: str) -> None:
    ok = [f"CN{n}" for n in range(7)]
    mock_ids(requests_mock, quo_conn, ok, CNbad1=BAD_REQUEST, CNbad2=BAD_REQUEST, CNgone=NOT_FOUND)
    ids = ["CNbad1", *ok[:3], "CNgone", "CNbad2", *ok[3:]]

    op = MarkConversationReadOperator(task_id="t", conversation_ids=ids, fail_on_error=True)
    ti = mock.MagicMock()
    with pytest.raises(QuoBulkMarkError) as excinfo:
        op.execute({"ti": ti})

    message = str(excinfo.value)
    assert requests_mock.call_count == 10
    for part in ("7 marked", "1 not found", "2 failed", "0 not attempted", "of 10", "first failure: Quo API 400"):
        assert part in message
    [summary] = pushed(ti, "return_value")  # a failed task's summary: where a success's return value goes
    assert summary == excinfo.value.summary
    assert sorted(summary["marked"]) == sorted(ok)
    assert set(summary["failed"]) == {"CNbad1", "CNbad2"}
    assert summary["not_found"] == ["CNgone"]


def test_fail_on_error_false_returns_the_summary(requests_mock: Any, quo_conn: str) -> None:
    mock_ids(requests_mock, quo_conn, ["CN1"], CN2=BAD_REQUEST)
    summary, ti = run(MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2", fail_on_error=False))
    assert summary["failed_count"] == 1
    assert summary["marked"] == ["CN1"]
    assert ti.xcom_push.call_args_list == [], "the summary is the return value: Airflow stores it, once"


def test_failures_are_logged_with_their_reason(
    requests_mock: Any, quo_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    mock_ids(requests_mock, quo_conn, ["CN1"], CN2=BAD_REQUEST)
    caplog.set_level(logging.INFO, logger=TASK_LOG.name)
    run(MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2", fail_on_error=False))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == TASK_LOG.name]
    assert any("CN2" in w and "400" in w for w in warnings)


def test_persistent_server_error_is_retried_and_does_not_hide_others(
    requests_mock: Any, quo_conn: str, no_retry_sleep: list[float]
) -> None:
    mock_ids(
        requests_mock, quo_conn, ["CN1", "CN3"], CN2={"status_code": 503, "text": "<html>Service Unavailable</html>"}
    )
    summary, _ = run(MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2 CN3", fail_on_error=False))

    calls_for_cn2 = [r for r in requests_mock.request_history if "/CN2/" in r.url]
    assert len(calls_for_cn2) == 6  # the default retry limit
    assert len(no_retry_sleep) == 5
    assert sorted(summary["marked"]) == ["CN1", "CN3"]
    assert "503" in summary["failed"]["CN2"]
    assert "Service Unavailable" in summary["failed"]["CN2"]


def test_transient_error_then_success_is_marked(requests_mock: Any, quo_conn: str, no_retry_sleep: list[float]) -> None:
    requests_mock.post(url(quo_conn, "CN1"), [{"status_code": 500, "json": {}}, {"json": conversation("CN1")}])
    requests_mock.post(url(quo_conn, "CN2"), [{"exc": requests.ConnectionError}, {"json": conversation("CN2")}])
    summary, _ = run(MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2"))

    assert sorted(summary["marked"]) == ["CN1", "CN2"]
    assert requests_mock.call_count == 4
    assert len(no_retry_sleep) == 2


# -- what stops a run, and what does not ---------------------------------------------------------------
# A 401 stops after one call, even with fail_on_error=False: tests/reliability/test_wrong_key.py.
# A 403 fails only its id; the first 20 outcomes all 403 stop the run: tests/reliability/test_forbidden_numbers.py.


def test_one_success_among_the_first_20_means_the_key_can_act_and_nothing_stops(
    requests_mock: Any, quo_conn: str
) -> None:
    requests_mock.post(MARK_READ, **FORBIDDEN)
    requests_mock.post(url(quo_conn, "CN005"), json=echo_conversation)
    ids = [f"CN{n:03d}" for n in range(100)]
    op = MarkConversationReadOperator(task_id="t", conversation_ids=ids, max_workers=1, fail_on_error=False)

    summary, _ = run(op)

    assert requests_mock.call_count == 100
    assert (summary["marked"], summary["failed_count"]) == (["CN005"], 99)
    assert_invariant(summary)


def test_auth_error_mid_run_stops_early_and_keeps_earlier_results(requests_mock: Any, quo_conn: str) -> None:
    requests_mock.post(MARK_READ, **UNAUTHORIZED)
    requests_mock.post(url(quo_conn, "CN00"), json=conversation("CN00"))
    ids = [f"CN{n:02d}" for n in range(50)]
    ti = mock.MagicMock()

    with pytest.raises(QuoAuthenticationError):
        MarkConversationReadOperator(task_id="t", conversation_ids=ids, max_workers=1).execute({"ti": ti})

    [summary] = pushed(ti, "return_value")  # a failed task's summary: where a success's return value goes
    assert summary["marked"] == ["CN00"]
    assert requests_mock.call_count <= 6  # the one worker may have taken a few more ids before the stop
    # Every id that was sent is accounted for: calls under way when the 401 came are drained, not dropped.
    assert summary["failed_count"] == requests_mock.call_count - 1
    assert summary["not_attempted_count"] == 50 - requests_mock.call_count


def test_tls_failure_stops_the_run_after_the_first_call(requests_mock: Any, quo_conn: str) -> None:
    """Every further call would fail certificate verification alike: one request, a typed error."""
    from airflow_provider_quo.exceptions import QuoTLSError

    requests_mock.post(MARK_READ, exc=requests.exceptions.SSLError("certificate verify failed"))
    ti = mock.MagicMock()
    with pytest.raises(QuoTLSError):
        MarkConversationReadOperator(task_id="t", conversation_ids=[f"CN{n}" for n in range(20)]).execute({"ti": ti})
    assert requests_mock.call_count == 1


# -- the summary accounts for every id, whatever the path ------------------------------------------------


def _kill_after_first(op: MarkConversationReadOperator) -> Any:
    def answer(request: Any, context: Any) -> dict[str, Any]:
        op.on_kill()
        return echo_conversation(request, context)

    return answer


def _arrange(requests_mock: Any, quo_conn: str, path: str) -> tuple[list[Any], dict[str, Any]]:
    """The ids, the operator's arguments and the server's answers of one path."""
    ids: list[Any] = [f"CN{n:02d}" for n in range(30)]
    kwargs: dict[str, Any] = {"fail_on_error": False, "max_workers": 2}
    requests_mock.post(MARK_READ, json=echo_conversation)
    if path == "mixed":
        requests_mock.post(url(quo_conn, "CN01"), **NOT_FOUND)
        requests_mock.post(url(quo_conn, "CN02"), **FORBIDDEN)
        requests_mock.post(url(quo_conn, "CN03"), status_code=400, json={"message": "bad"})
    elif path == "401":
        requests_mock.post(MARK_READ, **UNAUTHORIZED)
    elif path == "403-stop":
        requests_mock.post(MARK_READ, **FORBIDDEN)
    elif path == "skip-invalid":
        ids += ["CN 1", "CN\x1f2", None]
        kwargs["on_invalid_id"] = "skip"
    elif path == "dry-run":
        kwargs["dry_run"] = True
    elif path == "empty":
        ids = []
    elif path == "bad-200":
        requests_mock.post(url(quo_conn, "CN04"), json={"id": "CN99"})
        requests_mock.post(url(quo_conn, "CN05"), status_code=200, content=b"")
    return ids, kwargs


@pytest.mark.parametrize(
    "path", ["all-marked", "mixed", "401", "403-stop", "killed", "skip-invalid", "dry-run", "empty", "bad-200"]
)
def test_the_summary_invariant_holds_in_every_path(requests_mock: Any, quo_conn: str, path: str) -> None:
    ids, kwargs = _arrange(requests_mock, quo_conn, path)
    op = MarkConversationReadOperator(task_id="t", conversation_ids=ids, **kwargs)
    if path == "killed":
        requests_mock.post(MARK_READ, json=_kill_after_first(op))
    ti = mock.MagicMock()

    try:
        summary, failed = op.execute({"ti": ti}), False
    except QuoError:
        [summary], failed = pushed(ti, "return_value"), True  # a failed task's summary is pushed all the same

    assert failed == (path in {"401", "403-stop", "killed"}), "with fail_on_error=False only a stop fails the task"

    assert_invariant(summary)
    if path == "bad-200":
        assert "for conversation 'CN99', not the requested 'CN04'" in summary["failed"]["CN04"]
        assert "empty body" in summary["failed"]["CN05"]
        assert summary["marked_count"] == 28
