"""The listing's summary of one selection: the XCom ``summary`` dict and its one log line."""

from __future__ import annotations

from collections import Counter
from typing import Any

from airflow_provider_quo.operators._staleness import STALE_REASONS, StalenessRule, tally
from airflow_provider_quo.operators.watermark.state import Point, Span
from airflow_provider_quo.operators.watermark.window import Plan

#: XCom key of the listing's summary (its ids are its ``return_value``).
SELECTION_XCOM_KEY = "summary"
#: The verdict of a conversation that became stale in the window (every other verdict is a skip).
IN_WINDOW = "in_window"


def _span_json(span: Span) -> dict[str, Any]:
    return {
        "from": None if span.lo is None else span.lo.at.isoformat(),
        "from_id": None if span.lo is None else span.lo.last_id,
        "to": span.hi.at.isoformat(),
        "to_id": span.hi.last_id,
    }


def selection_summary(
    rule: StalenessRule,
    window_plan: Plan,
    verdicts: Counter[str],
    reasons: Counter[str],
    claimed: list[Span],
    cut: Point | None,
) -> dict[str, Any]:
    """The listing's XCom ``summary``: the window, where it came from, what the run claimed, and every count.

    :param rule: the staleness rule of the run.
    :param window_plan: the run's window and where it came from.
    :param verdicts: the listed conversations by verdict (``in_window`` for the candidates).
    :param reasons: the selected conversations by reason.
    :param claimed: the key spans whose every stale conversation the run selected (its claim, when incremental).
    :param cut: where a ``limit`` cut the window, if it did.
    """
    window = window_plan.window
    skipped = Counter({verdict: n for verdict, n in verdicts.items() if verdict != IN_WINDOW})
    return {
        "cutoff": rule.cutoff.isoformat(),
        "window": {"from": None if window.start is None else window.start.isoformat(), "to": window.end.isoformat()},
        "ranges": [_span_json(span) for span in window.spans],
        "watermark_origin": window_plan.origin,
        "full_sweep": window.full_sweep,
        "scanned": sum(verdicts.values()),
        "in_window": verdicts[IN_WINDOW],
        "selected": sum(reasons.values()),
        **{f"selected_{reason}": reasons[reason] for reason in STALE_REASONS},
        "limit_reached": cut is not None,
        "covered": [_span_json(span) for span in claimed],
        **tally(skipped),
    }


def selection_line(summary: dict[str, Any]) -> str:
    """One human line for the selection: ``selected 138 of 185 listed; skipped: 30 recent, 9 snoozed``."""
    skipped = [
        f"{n} {key.removeprefix('skipped_').replace('_', ' ')}"
        for key, n in sorted(summary.items(), key=lambda item: -item[1] if isinstance(item[1], int) else 0)
        if key.startswith("skipped_") and n
    ]
    line = f"selected {summary['selected']} of {summary['scanned']} listed; skipped: {', '.join(skipped) or 'none'}"
    if summary["limit_reached"]:
        line += "; limit reached: the rest is left to the next run"
    return line
