"""The incremental cleanup's window and watermark: which stale conversations a run is responsible for.

A conversation *became stale* at one instant (see :meth:`StalenessRule.assess`). The **watermark**
``W`` is the instant up to which every conversation that became stale has been selected by a run
whose marking then succeeded. A run at time ``T`` selects the conversations that became stale in its
**window** ``(W, T]`` and, once they are all marked, the watermark moves to ``T``.

The watermark lives in the listing task's XCom ``window`` record: ``from`` (the watermark the run
started from), ``to`` (its time ``T``), ``next_watermark`` (where the watermark goes if its marking
succeeds) and ``run_id``. The next run reads the newest record of an earlier run and asks that run's
marking task (``marked_by``) how it went: a clean, real (not dry) marking commits ``next_watermark``;
anything else keeps ``from``, so the next window covers the failed run's too. Nothing else is stored.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_quo.operators._staleness import TICK, parse_api_datetime

#: XCom key of the listing task's window record.
WINDOW_XCOM_KEY = "window"


@dataclass(frozen=True)
class Window:
    """The stale conversations one run is responsible for: those that became stale in ``(start, end]``.

    :param start: the watermark (exclusive); ``None`` for a full sweep (everything stale at ``end``).
    :param end: the run's time (inclusive).
    """

    start: datetime | None
    end: datetime

    def __contains__(self, stale_since: datetime) -> bool:
        return (self.start is None or stale_since > self.start) and stale_since <= self.end

    @property
    def full_sweep(self) -> bool:
        """Whether the window reaches back to the beginning of time."""
        return self.start is None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A conversation in the window: when it became stale, and why.

    :param stale_since: the instant it became stale.
    :param conversation_id: its id.
    :param reason: ``"idle"``, ``"snooze_ended"`` or ``"mute_ended"``.
    """

    stale_since: datetime
    conversation_id: str
    reason: str


def earliest(candidates: Iterable[Candidate], limit: int) -> tuple[list[Candidate], datetime | None]:
    """Keep the ``limit`` candidates that became stale first, and say how far that covers the window.

    Memory stays at ``limit + 1`` candidates however many stream by.

    :param candidates: the window's candidates, in any order.
    :param limit: how many to keep.
    :returns: the kept candidates, earliest first, and, if some were left out, the instant just
        before the first one left out: every candidate up to that instant was kept.
    """
    smallest = heapq.nsmallest(limit + 1, candidates, key=lambda c: (c.stale_since, c.conversation_id))
    if len(smallest) <= limit:
        return smallest, None
    return smallest[:limit], smallest[limit].stale_since - TICK


def window_record(window: Window, next_watermark: datetime, run_id: str | None) -> dict[str, Any]:
    """The JSON record the listing task pushes under :data:`WINDOW_XCOM_KEY`.

    :param window: the window the run handled.
    :param next_watermark: the watermark once this run's marking succeeds.
    :param run_id: the run's id, to find its marking task's outcome later.
    """
    return {
        "from": None if window.start is None else window.start.isoformat(),
        "to": window.end.isoformat(),
        "next_watermark": next_watermark.isoformat(),
        "run_id": run_id,
    }


def marking_succeeded(summary: Any) -> bool:
    """Whether a marking task's return value says it really marked every id it was given.

    :param summary: the ``return_value`` of the ``marked_by`` task (``None`` if it failed or has not run).
    """
    if not isinstance(summary, dict) or summary.get("dry_run") is not False:
        return False
    return summary.get("failed_count") == 0 and summary.get("not_attempted_count") == 0


def watermark_after(record: Any, marking_summary: Any) -> tuple[datetime | None, str]:
    """The watermark an earlier run leaves, from its window record and its marking task's return value.

    :param record: the earlier run's :func:`window_record` (``None``: no earlier run, a full sweep).
    :param marking_summary: the return value of that run's marking task.
    :returns: the watermark (``None`` for none) and a phrase saying where it comes from.
    """
    if not isinstance(record, dict) or "next_watermark" not in record:
        # Airflow's task SDK logs "XCom not found" for the pull that found nothing: expected here.
        return None, "no earlier run recorded a window (Airflow logs 'XCom not found' for that): a full sweep"
    run_id = record.get("run_id")
    if marking_succeeded(marking_summary):
        return _instant(record["next_watermark"]), f"committed by run {run_id}"
    return _instant(record.get("from")), (
        f"run {run_id} did not mark everything (failed, dry or not run; Airflow logs 'XCom not found' if its "
        "marking task returned nothing): kept its window start"
    )


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = parse_api_datetime(value)
    if parsed is None:
        raise ValueError(f"Unreadable watermark {value!r} in the window record: run once with full_sweep=True")
    return parsed
