"""A marking operator's summary: run the operator to one whether or not it raises, and its invariant."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator


def run_operator(op: BaseOperator) -> tuple[dict[str, Any], BaseException | None]:
    """``op.execute`` with a ``ti`` that keeps its XComs: (summary, None), or (the pushed summary, the error)."""
    pushed: dict[str, Any] = {}

    class Ti:
        def xcom_push(self, key: str, value: Any) -> None:
            pushed[key] = value

    try:
        return op.execute({"ti": Ti()}), None  # type: ignore[arg-type]
    except Exception as error:
        return pushed["return_value"], error


def assert_invariant(summary: dict[str, Any]) -> None:
    """Every requested id is counted exactly once, and each count matches its list."""
    counted = ("marked_count", "not_found_count", "failed_count", "not_attempted_count", "invalid_count")
    assert sum(summary[key] for key in counted) == summary["requested"], summary
    assert summary["failed_count"] == len(summary["failed"])
    assert summary["not_found_count"] == len(summary["not_found"])
    assert summary["invalid_count"] == len(summary["invalid"])
