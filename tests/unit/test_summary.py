"""MarkSummary: the counts, ids and one-line reasons a marking operator returns."""

from __future__ import annotations

import json

import pytest

from airflow_provider_quo.exceptions import QuoBadRequestError, QuoConnectionError, QuoNotFoundError
from airflow_provider_quo.operators._summary import MarkSummary


def not_found() -> QuoNotFoundError:
    return QuoNotFoundError(status=404, title="Not Found", message="Conversation not found", trace="tr-1")


def summary(requested: int = 5, *, fail_on_not_found: bool = False, keep_marked_ids: bool = True) -> MarkSummary:
    return MarkSummary("read", requested, fail_on_not_found=fail_on_not_found, keep_marked_ids=keep_marked_ids)


def test_empty_summary(summary_keys: list[str]) -> None:
    result = summary(3).as_dict()
    assert list(result) == summary_keys
    assert result == {
        "action": "read",
        "dry_run": False,
        "requested": 3,
        "marked_count": 0,
        "not_found_count": 0,
        "failed_count": 0,
        "not_attempted_count": 3,
        "invalid_count": 0,
        "marked": [],
        "not_found": [],
        "failed": {},
        "failed_detail": {},
        "invalid": [],
        "elapsed_seconds": 0.0,
    }


def test_every_outcome_is_counted_once() -> None:
    s = summary(6)
    s.record("CN1", None)
    s.record("CN2", None)
    s.record("CN3", not_found())
    s.record("CN4", QuoBadRequestError(status=400, title="Bad Request", message="bad id"))
    assert s.done == 4

    result = s.as_dict(elapsed_seconds=2.34567)
    assert result["marked"] == ["CN1", "CN2"]
    assert result["not_found"] == ["CN3"]
    assert result["failed"] == {"CN4": "Quo API 400 Bad Request: bad id"}
    assert result["failed_detail"] == {"CN4": {"kind": "400", "status": 400, "retryable": False}}, "status as data"
    assert (result["marked_count"], result["not_found_count"], result["failed_count"]) == (2, 1, 1)
    assert result["not_attempted_count"] == 2
    assert result["elapsed_seconds"] == 2.346
    assert json.loads(json.dumps(result)) == result


def test_keep_marked_ids_false_counts_only() -> None:
    s = summary(2, keep_marked_ids=False)
    s.record("CN1", None)
    s.record("CN2", not_found())
    result = s.as_dict()
    assert result["marked_count"] == 1
    assert result["marked"] == []
    assert result["not_found"] == ["CN2"]


def test_not_found_as_failure() -> None:
    s = summary(1, fail_on_not_found=True)
    s.record("CN1", not_found())
    result = s.as_dict()
    assert result["not_found"] == []
    assert result["failed"] == {"CN1": "Quo API 404 Not Found: Conversation not found (trace tr-1)"}


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (RuntimeError("line one\n  line two\t end"), "line one line two end"),
        (RuntimeError(""), "RuntimeError"),
        (TimeoutError(), "TimeoutError"),
        (QuoConnectionError("POST http://x failed: ConnectTimeout"), "POST http://x failed: ConnectTimeout"),
    ],
)
def test_failure_reason_is_one_line(error: BaseException, reason: str) -> None:
    s = summary(1)
    s.record("CN1", error)
    assert s.failed == {"CN1": reason}


def test_dry_run_flag() -> None:
    result = summary(2).as_dict(dry_run=True)
    assert result["dry_run"] is True
    assert result["not_attempted_count"] == 2


def test_line() -> None:
    s = MarkSummary("done", 7, fail_on_not_found=False, keep_marked_ids=True)
    s.record("CN1", None)
    s.record("CN2", None)
    s.record("CN3", not_found())
    s.record("CN4", RuntimeError("boom"))
    assert s.line() == "mark-as-done: 2 marked, 1 not found, 1 failed, 3 not attempted, of 7"
