"""Issue 10 in the marking operators: 403 per number, on_invalid_id, not-found ids logged, the summary invariant."""

from __future__ import annotations

import logging
import re
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.exceptions import (
    QuoAuthenticationError,
    QuoBulkMarkError,
    QuoError,
    QuoInvalidConversationIdError,
)
from airflow_provider_quo.operators._mark_base import MAX_LOGGED_IDS, PERMISSION_EVIDENCE_CALLS
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from tests.mark_echo import echo_conversation

MARK_READ = re.compile(r"/v1/conversations/[^/?]+/mark-as-read$")
TASK_LOG = logging.getLogger("test.quo.hardening")
FORBIDDEN = {
    "status_code": 403,
    "json": {
        "message": "Not Phone Number User",
        "code": "1001403",
        "status": 403,
        "title": "Not Phone Number User",
        "description": "Not Phone Number User",
        "trace": "tr-403",
    },
}
NOT_FOUND = {"status_code": 404, "json": {"message": "Conversation not found", "title": "Not Found"}}
UNAUTHORIZED = {"status_code": 401, "json": {"message": "Invalid API key", "title": "Unauthorized"}}


@pytest.fixture(autouse=True)
def stdlib_task_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MarkConversationReadOperator, "log", property(lambda self: TASK_LOG))


def url(base: str, cid: str) -> str:
    return f"{base}/v1/conversations/{cid}/mark-as-read"


def execute(op: MarkConversationReadOperator) -> tuple[dict[str, Any] | None, BaseException | None, dict[str, Any]]:
    """Run the operator; return (result, error, the summary it returned or pushed on failure)."""
    ti = mock.MagicMock()
    try:
        result = op.execute({"ti": ti})
    except QuoError as error:
        [summary] = [c.kwargs["value"] for c in ti.xcom_push.call_args_list if c.kwargs["key"] == "return_value"]
        return None, error, summary
    return result, None, result


def assert_invariant(summary: dict[str, Any]) -> None:
    counted = ("marked_count", "not_found_count", "failed_count", "not_attempted_count", "invalid_count")
    assert sum(summary[key] for key in counted) == summary["requested"], summary
    assert summary["failed_count"] == len(summary["failed"])
    assert summary["not_found_count"] == len(summary["not_found"])
    assert summary["invalid_count"] == len(summary["invalid"])


# -- item 4: a 403 is per phone number --------------------------------------------------------------


def test_a_403_fails_that_id_and_the_run_carries_on(requests_mock: Any, quo_conn: str) -> None:
    requests_mock.post(MARK_READ, json=echo_conversation)
    forbidden = {"CN03", "CN07", "CN30"}
    for cid in forbidden:
        requests_mock.post(url(quo_conn, cid), **FORBIDDEN)
    ids = [f"CN{n:02d}" for n in range(40)]

    _, error, summary = execute(MarkConversationReadOperator(task_id="t", conversation_ids=ids))

    assert isinstance(error, QuoBulkMarkError), "fail_on_error: the task fails, after every id was tried"
    assert requests_mock.call_count == 40
    assert set(summary["failed"]) == forbidden
    assert all("403 Not Phone Number User" in reason for reason in summary["failed"].values())
    assert summary["marked_count"] == 37
    assert summary["not_attempted_count"] == 0
    assert_invariant(summary)


def test_a_403_with_fail_on_error_false_leaves_the_task_green(requests_mock: Any, quo_conn: str) -> None:
    requests_mock.post(MARK_READ, json=echo_conversation)
    requests_mock.post(url(quo_conn, "CN1"), **FORBIDDEN)
    op = MarkConversationReadOperator(task_id="t", conversation_ids=["CN1", "CN2"], fail_on_error=False)

    _, error, summary = execute(op)

    assert error is None
    assert (summary["marked"], list(summary["failed"])) == (["CN2"], ["CN1"])


@pytest.mark.parametrize("workers", [1, 4])
def test_the_first_20_outcomes_all_403_stop_the_run(requests_mock: Any, quo_conn: str, workers: int) -> None:
    requests_mock.post(MARK_READ, **FORBIDDEN)
    ids = [f"CN{n:03d}" for n in range(200)]
    op = MarkConversationReadOperator(task_id="t", conversation_ids=ids, max_workers=workers, fail_on_error=False)

    _, error, summary = execute(op)

    assert isinstance(error, QuoBulkMarkError), "stopping early is never a success, even with fail_on_error=False"
    assert f"the first {PERMISSION_EVIDENCE_CALLS} calls all answered 403" in str(error)
    assert "Not Phone Number User" in str(error)
    sent = requests_mock.call_count
    assert PERMISSION_EVIDENCE_CALLS <= sent <= PERMISSION_EVIDENCE_CALLS + 3 * workers, "calls under way only"
    assert summary["failed_count"] == sent, "every id sent is accounted for"
    assert summary["not_attempted_count"] == 200 - sent
    assert_invariant(summary)
    assert error.summary["requested"] == 200  # type: ignore[attr-defined]


def test_one_success_among_the_first_20_means_the_key_can_act_and_nothing_stops(
    requests_mock: Any, quo_conn: str
) -> None:
    requests_mock.post(MARK_READ, **FORBIDDEN)
    requests_mock.post(url(quo_conn, "CN005"), json=echo_conversation)
    ids = [f"CN{n:03d}" for n in range(100)]
    op = MarkConversationReadOperator(task_id="t", conversation_ids=ids, max_workers=1, fail_on_error=False)

    _, error, summary = execute(op)

    assert error is None
    assert requests_mock.call_count == 100
    assert (summary["marked"], summary["failed_count"]) == (["CN005"], 99)
    assert_invariant(summary)


def test_a_401_still_stops_at_once(requests_mock: Any, quo_conn: str) -> None:
    requests_mock.post(MARK_READ, **UNAUTHORIZED)
    _, error, summary = execute(
        MarkConversationReadOperator(task_id="t", conversation_ids=[f"CN{n}" for n in range(50)])
    )

    assert isinstance(error, QuoAuthenticationError)
    assert requests_mock.call_count == 1
    assert (summary["failed_count"], summary["not_attempted_count"]) == (1, 49)
    assert_invariant(summary)


# -- item 6: on_invalid_id ---------------------------------------------------------------------------

MIXED = ["CN1", "CN 2", "CN3", "CN4\u2028", "cn5", "CN1", "CN 2", 6]


def test_on_invalid_id_defaults_to_fail_and_sends_nothing(requests_mock: Any, quo_conn: str) -> None:
    requests_mock.post(MARK_READ, json=echo_conversation)
    with pytest.raises(QuoInvalidConversationIdError, match="4 invalid conversation id"):
        MarkConversationReadOperator(task_id="t", conversation_ids=MIXED).execute({"ti": mock.MagicMock()})
    assert requests_mock.call_count == 0


def test_on_invalid_id_skip_marks_the_valid_ids_and_counts_the_invalid_ones(
    requests_mock: Any, quo_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(MARK_READ, json=echo_conversation)
    op = MarkConversationReadOperator(task_id="t", conversation_ids=MIXED, on_invalid_id="skip")

    with caplog.at_level(logging.INFO, logger=TASK_LOG.name):
        _, error, summary = execute(op)

    assert error is None
    sent = sorted(r.path.split("/")[3] for r in requests_mock.request_history)
    assert sent == ["cn1", "cn3"]  # requests-mock lowercases paths; only the two valid ids were sent
    assert summary["marked"] == ["CN1", "CN3"]
    assert summary["requested"] == 6  # distinct entries: CN1, 'CN 2', CN3, 'CN4\u2028', 'cn5', 6
    assert summary["invalid_count"] == 4
    assert summary["invalid"][0] == "'CN 2' (contains whitespace or control characters (U+0020, a space, at index 2))"
    assert "U+2028" in summary["invalid"][1]
    assert_invariant(summary)
    [line] = [r.getMessage() for r in caplog.records if "invalid conversation id" in r.getMessage()]
    assert line.startswith("mark-as-read: skipped 4 invalid conversation id(s): 'CN 2' (")
    assert "4 invalid (skipped), of 6" in caplog.text


def test_on_invalid_id_skip_with_only_invalid_ids_sends_nothing(requests_mock: Any, quo_conn: str) -> None:
    op = MarkConversationReadOperator(task_id="t", conversation_ids=["CN 1", "x"], on_invalid_id="skip")
    _, error, summary = execute(op)
    assert error is None
    assert requests_mock.call_count == 0
    assert (summary["requested"], summary["invalid_count"], summary["not_attempted_count"]) == (2, 2, 0)


def test_on_invalid_id_skip_still_rejects_what_is_not_a_list_of_ids() -> None:
    op = MarkConversationReadOperator(task_id="t", conversation_ids={"id": "CN1"}, on_invalid_id="skip")
    with pytest.raises(QuoInvalidConversationIdError, match="must be a string or a list"):
        op.execute({"ti": mock.MagicMock()})


@pytest.mark.parametrize("value", ["ignore", "", None, "SKIP"])
def test_on_invalid_id_value_is_checked_in_the_constructor(value: Any) -> None:
    with pytest.raises(ValueError, match="on_invalid_id must be 'skip' or 'fail'"):
        MarkConversationReadOperator(task_id="t", conversation_ids="CN1", on_invalid_id=value)


# -- item 8: the log names what was not found --------------------------------------------------------


def test_the_log_lists_the_first_20_not_found_ids(
    requests_mock: Any, quo_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(MARK_READ, **NOT_FOUND)
    ids = [f"CN{n:02d}" for n in range(25)]
    op = MarkConversationReadOperator(task_id="t", conversation_ids=ids, max_workers=1)

    with caplog.at_level(logging.INFO, logger=TASK_LOG.name):
        _, error, summary = execute(op)

    assert error is None
    [line] = [r for r in caplog.records if "not found:" in r.getMessage()]
    assert line.levelno == logging.WARNING
    listed = line.getMessage().split("not found: ", 1)[1]
    assert listed.endswith(" ...")
    assert listed.removesuffix(" ...").split(", ") == summary["not_found"][:MAX_LOGGED_IDS]
    assert line.getMessage().startswith("mark-as-read: 25 not found: ")


# -- the invariant in every path ---------------------------------------------------------------------


def _kill_after_first(op: MarkConversationReadOperator) -> Any:
    def answer(request: Any, context: Any) -> dict[str, Any]:
        op.on_kill()
        return echo_conversation(request, context)

    return answer


@pytest.mark.parametrize(
    "path", ["all-marked", "mixed", "401", "403-stop", "killed", "skip-invalid", "dry-run", "empty", "bad-200"]
)
def test_the_summary_invariant_holds_in_every_path(requests_mock: Any, quo_conn: str, path: str) -> None:
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
    op = MarkConversationReadOperator(task_id="t", conversation_ids=ids, **kwargs)
    if path == "killed":
        requests_mock.post(MARK_READ, json=_kill_after_first(op))

    _, _, summary = execute(op)

    assert_invariant(summary)
    if path == "bad-200":
        assert "for conversation 'CN99', not the requested 'CN04'" in summary["failed"]["CN04"]
        assert "empty body" in summary["failed"]["CN05"]
        assert summary["marked_count"] == 28
