"""MarkSummary: the counts, ids and one-line reasons a marking operator returns."""

from __future__ import annotations

import json

import pytest

from airflow_provider_quo.exceptions import QuoBadRequestError, QuoConnectionError, QuoNotFoundError
from airflow_provider_quo.operators._summary import (
    MarkSummary,
    commits_watermark,
    may_succeed_later,
    total_of_batches,
)


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

    s.elapsed_seconds = 2.34567
    result = s.as_dict()
    assert result["marked"] == ["CN1", "CN2"]
    assert result["not_found"] == ["CN3"]
    assert result["failed"] == {"CN4": "Quo API 400 Bad Request: bad id"}
    assert result["failed_detail"] == {"CN4": {"kind": "400", "status": 400}}, "kind and status as data"
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


def dry(requested: int) -> MarkSummary:
    s = summary(requested)
    s.dry_run = True
    return s


def test_dry_run_flag() -> None:
    result = dry(2).as_dict()
    assert result["dry_run"] is True
    assert result["not_attempted_count"] == 2


def test_line() -> None:
    s = MarkSummary("done", 7, fail_on_not_found=False, keep_marked_ids=True)
    s.record("CN1", None)
    s.record("CN2", None)
    s.record("CN3", not_found())
    s.record("CN4", RuntimeError("boom"))
    assert s.line() == "mark-as-done: 2 marked, 1 not found, 1 failed, 3 not attempted, of 7"


def test_from_dict_reads_back_what_as_dict_gave() -> None:
    s = summary(4)
    s.record("CN1", None)
    s.record("CN2", not_found())
    s.record("CN3", QuoBadRequestError(status=400, title="Bad Request"))
    s.elapsed_seconds = 1.5
    data = s.as_dict()
    assert MarkSummary.from_dict(data).as_dict() == data


def test_total_of_batches_counts_every_id_and_names_the_failed_batches() -> None:
    ok = summary(2)
    ok.record("CN1", None)
    ok.record("CN2", not_found())
    bad = summary(2)
    bad.record("CN3", QuoBadRequestError(status=400, title="Bad Request"))
    totals = total_of_batches(
        [ok.as_dict(), bad.as_dict(), None, dry(1).as_dict()],
        [["CN1", "CN2"], ["CN3", "CN4"], ["CN5"], ["CN6"]],
        task_id="m",
    )
    assert (totals["batches"], totals["failed_batches"]) == (4, [1, 2]), "a dry batch left unsent did not fail"
    assert (totals["requested"], totals["marked_count"], totals["not_found_count"]) == (6, 1, 1)
    assert (totals["failed_count"], totals["not_attempted_count"]) == (2, 2)
    assert totals["failed"]["CN5"] == "batch 2 failed without a summary: see the log of m[2]"
    assert totals["failed_detail"]["CN3"]["status"] == 400
    assert not commits_watermark(totals)
    assert totals["failed_detail"]["CN5"] == {"kind": "other", "status": None}, "a lost batch: the table's unknown kind"
    assert may_succeed_later(totals) == ["CN5"], "a 400 is for good; a batch lost to an unknown error may pass"


def test_may_succeed_later_reads_the_kind_and_takes_an_id_without_one_as_such() -> None:
    summary = {
        "failed": {"CN1": "a", "CN2": "b", "CN3": "c", "CN4": "d"},
        "failed_detail": {
            "CN1": {"kind": "5xx", "status": 503},
            "CN2": {"kind": "404", "status": 404},
            "CN3": {"status": 500, "retryable": False},  # an older provider's detail: no kind
        },
    }
    assert may_succeed_later(summary) == ["CN1", "CN3", "CN4"]
