"""The incremental cleanup's window and watermark: which stale conversations a run is responsible for.

A conversation *became stale* at one instant (see :meth:`StalenessRule.assess`). The **watermark**
``W`` is the instant up to which every conversation that became stale has been selected by a run
whose marking then succeeded. A run at time ``T`` selects the conversations that became stale in its
**window** ``(W, T]`` and, once they are all marked, the watermark moves to ``T``.

The watermark is an instant and, after a ``limit`` cut a run short, the id of the last conversation
taken at that instant (ties are ordered by id, so a run never stalls on them). It lives in the listing
task's XCom ``window`` record: ``from`` (the watermark the run started from), ``to`` (its time ``T``),
``next_watermark`` (where the watermark goes if its marking succeeds), the selection it used and
``run_id``. The next run reads the newest record of an earlier run and asks that run's marking task
(``marked_by``) how it went: a real (not dry) marking whose only failures are 403s commits
``next_watermark``; anything else keeps ``from``, so the next window covers that run's too. A record
made with another selection (idle age, numbers, user, exclusions) is not trusted: a full sweep.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_quo.operators._staleness import parse_api_datetime
from airflow_provider_quo.operators._summary import commits_watermark

#: XCom key of the listing task's window record.
WINDOW_XCOM_KEY = "window"
#: Where a first run's window starts from. Airflow's task SDK logs "XCom not found" for the pull that found
#: nothing: expected then.
NO_RECORD = "no earlier run recorded a window (Airflow logs 'XCom not found' for that): a full sweep"


@dataclass(frozen=True)
class Window:
    """The stale conversations one run is responsible for: those that became stale in ``(start, end]``.

    :param start: the watermark (exclusive); ``None`` for a full sweep (everything stale at ``end``).
    :param end: the run's time (inclusive).
    :param start_id: with ``start``: the conversations stale at exactly ``start`` with an id up to this
        one were taken already (a ``limit`` stopped there); ``None``: all of them were.
    """

    start: datetime | None
    end: datetime
    start_id: str | None = None

    def holds(self, stale_since: datetime, conversation_id: str) -> bool:
        """Whether a conversation that became stale at ``stale_since`` is this window's.

        :param stale_since: when it became stale.
        :param conversation_id: its id (orders the conversations stale at the same instant).
        """
        if stale_since > self.end:
            return False
        if self.start is None or stale_since > self.start:
            return True
        return stale_since == self.start and self.start_id is not None and conversation_id > self.start_id

    @property
    def full_sweep(self) -> bool:
        """Whether the window reaches back to the beginning of time."""
        return self.start is None


@dataclass(frozen=True)
class Watermark:
    """How far the selections that were marked got: an instant, and the last id taken at it after a limit.

    :param at: the instant; ``None`` for none (the next run sweeps in full).
    :param last_id: see :attr:`Window.start_id`.
    """

    at: datetime | None
    last_id: str | None = None


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


def earliest(candidates: Iterable[Candidate], limit: int) -> tuple[list[Candidate], Watermark | None]:
    """Keep the ``limit`` candidates that became stale first (ties by id), and say how far that covers the window.

    Memory stays at ``limit + 1`` candidates however many stream by.

    :param candidates: the window's candidates, in any order.
    :param limit: how many to keep.
    :returns: the kept candidates, earliest first, and, if some were left out, the watermark up to
        which everything was kept (the last kept candidate).
    """
    smallest = heapq.nsmallest(limit + 1, candidates, key=lambda c: (c.stale_since, c.conversation_id))
    if len(smallest) <= limit:
        return smallest, None
    last = smallest[limit - 1]
    return smallest[:limit], Watermark(last.stale_since, last.conversation_id)


def window_record(
    window: Window, next_watermark: Watermark, run_id: str | None, selection: dict[str, Any]
) -> dict[str, Any]:
    """The JSON record the listing task pushes under :data:`WINDOW_XCOM_KEY`.

    :param window: the window the run handled.
    :param next_watermark: the watermark once this run's marking succeeds.
    :param run_id: the run's id, to find its marking task's outcome later.
    :param selection: the settings that decide what is stale (see :func:`watermark_after`).
    """
    return {
        "from": None if window.start is None else window.start.isoformat(),
        "from_id": window.start_id,
        "to": window.end.isoformat(),
        "next_watermark": None if next_watermark.at is None else next_watermark.at.isoformat(),
        "next_watermark_id": next_watermark.last_id,
        "selection": selection,
        "run_id": run_id,
    }


def marking_succeeded(summary: Any) -> bool:
    """Whether a marking task's summary says it really marked every id it could.

    A 403 ("Not Phone Number User") is the key's user lacking access to that number: marking it again
    cannot help until the account changes, so such failures do not hold the watermark back (they are in
    the summary; a full sweep retries them). Any other failure, a dry run, or ids not attempted does.

    :param summary: the marking task's XCom ``summary``.
    """
    if not isinstance(summary, dict) or summary.get("dry_run") is not False:
        return False
    failed = summary.get("failed")
    if summary.get("not_attempted_count") != 0 or not isinstance(failed, dict):
        return False
    return commits_watermark(summary)


def watermark_after(record: Any, marking_summary: Any, selection: dict[str, Any]) -> tuple[Watermark, str]:
    """The watermark an earlier run leaves, from its window record and its marking task's summary.

    :param record: the earlier run's :func:`window_record` (``None``: no earlier run, a full sweep).
    :param marking_summary: that run's marking summary (``None`` if its marking never ran).
    :param selection: this run's selection settings: a record made with others is not trusted.
    :returns: the watermark and a phrase saying where it comes from.
    """
    if not isinstance(record, dict) or "next_watermark" not in record:
        return Watermark(None), NO_RECORD
    run_id = record.get("run_id")
    if record.get("selection") != selection:
        return Watermark(None), f"run {run_id} selected with other settings ({record.get('selection')}): a full sweep"
    if marking_succeeded(marking_summary):
        return Watermark(_instant(record["next_watermark"]), record.get("next_watermark_id")), (
            f"committed by run {run_id}"
        )
    return Watermark(_instant(record.get("from")), record.get("from_id")), (
        f"run {run_id} did not mark everything (failed, dry or not run; Airflow logs 'XCom not found' if its "
        "marking task pushed nothing): kept its window start"
    )


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = parse_api_datetime(value)
    if parsed is None:
        raise ValueError(f"Unreadable watermark {value!r} in the window record: run once with full_sweep=True")
    return parsed
