"""The window of one run of the incremental cleanup: which keys it selects, and one human line saying why.

Pure logic over a :class:`~airflow_provider_quo.operators.watermark.state.WatermarkState`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from airflow_provider_quo.operators.watermark.state import (
    Claim,
    Point,
    Span,
    WatermarkState,
    conversation_key,
    normalized,
    subtract,
)


@dataclass(frozen=True)
class Window:
    """The stale conversations one run is responsible for: those whose key is in one of ``spans``.

    :param spans: disjoint key spans, in order (empty: nothing to select).
    :param end: the run's time: no span reaches past it.
    :param handled: ids a dropped run marked all the same, each with the span it claimed: skipped there.
    """

    spans: tuple[Span, ...]
    end: datetime
    handled: tuple[tuple[Span, frozenset[str]], ...] = ()

    @classmethod
    def everything(cls, end: datetime) -> Window:
        """Every key up to ``end``: a full sweep."""
        return cls((Span(None, Point(end)),), end)

    def holds(self, stale_since: datetime, conversation_id: str) -> bool:
        """Whether a conversation that became stale at ``stale_since`` is this window's."""
        key = conversation_key(stale_since, conversation_id)
        return any(span.holds(key) for span in self.spans)

    def handled_before(self, stale_since: datetime, conversation_id: str) -> bool:
        """Whether a dropped run's marking handled this conversation in this idle episode already."""
        key = conversation_key(stale_since, conversation_id)
        return any(conversation_id in ids and span.holds(key) for span, ids in self.handled)

    @property
    def full_sweep(self) -> bool:
        """Whether the window reaches back to the beginning of time."""
        return any(span.lo is None for span in self.spans)

    @property
    def start(self) -> datetime | None:
        """The earliest instant the window starts after (``None`` for a full sweep, ``end`` when empty)."""
        if not self.spans:
            return self.end
        first = self.spans[0].lo
        return None if first is None else first.at


@dataclass(frozen=True)
class Plan:
    """A run's window and the short human lines saying where it came from.

    :param window: what the run selects.
    :param lines: where the window came from, one short clause a line (the log prints each on its own
        line, so that none is cut in a narrow log view).
    """

    window: Window
    lines: tuple[str, ...]

    @property
    def origin(self) -> str:
        """The lines as one text, ``; `` between them (the listing summary's ``watermark_origin``)."""
        return "; ".join(self.lines)


def when(point: Point | datetime | None) -> str:
    """A bound for people: ``2026-12-02 00:00 UTC``, ``2026-12-02 09:12:00.123 UTC`` (seconds when not zero,
    milliseconds when not zero: runs triggered a few ms apart read apart; the last id after a limit)."""
    if point is None:
        return "the beginning"
    at = point.at if isinstance(point, Point) else point
    if at.microsecond:
        text = at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    else:
        text = at.strftime("%Y-%m-%d %H:%M:%S" if at.second else "%Y-%m-%d %H:%M")
    text += " UTC"
    return f"{text} after {point.last_id}" if isinstance(point, Point) and point.last_id else text


def spans_text(spans: Iterable[Span]) -> str:
    """``(a, b] + (c, d]`` with :func:`when` bounds."""
    return " + ".join(f"({when(s.lo)}, {when(s.hi)}]" for s in spans) or "nothing"


def plan(
    state: WatermarkState,
    run_id: str,
    end: datetime,
    dropped: Mapping[str, tuple[tuple[Span, ...], frozenset[str]]] | None = None,
    fresh: str | None = None,
) -> Plan:
    """The window of run ``run_id`` at ``end``, from a resolved state.

    Its own claim still in flight (a retry, or a re-run before another run resolved it): the same spans
    again. Otherwise ``(watermark, end]`` less every done span and every span in flight in another run.

    :param state: the state after :func:`~airflow_provider_quo.operators.watermark.state.resolve`.
    :param run_id: this run.
    :param end: this run's time.
    :param dropped: the runs whose claims resolution just dropped (their keys are selected again), each
        with the spans it claimed and the ids its marking handled all the same (skipped).
    :param fresh: why the state was just started (``"first run"``, changed settings, ...), if it was.
    """
    own = [c.span for c in state.claims if c.run_id == run_id and not c.done]
    if own:
        spans = tuple(normalized(own))
        return Plan(Window(spans, end), (f"again the range this run claimed before: {spans_text(spans)}",))
    holes = [c for c in state.claims if c.done or c.run_id != run_id]
    whole = Span(state.watermark, Point(end))
    spans = tuple(subtract([whole], [c.span for c in holes]))
    dropped = dropped or {}
    handled = tuple((span, ids) for claimed, ids in dropped.values() if ids for span in claimed)
    window = Window(spans, end, handled)
    if state.watermark is None and not state.claims:
        return Plan(window, (f"{fresh or 'nothing committed yet'}: full sweep up to {when(end)}",))
    return Plan(window, _lines(state, whole, holes, spans, sorted(dropped)))


def _lines(
    state: WatermarkState, whole: Span, holes: list[Claim], spans: tuple[Span, ...], gone: list[str]
) -> tuple[str, ...]:
    """Where a window taken from a stored state came from, one short clause a line."""
    end = whole.hi
    by = [f"committed by run {state.committed_by}"] if state.watermark and state.committed_by else []
    if state.watermark is not None and state.watermark.key >= end.key:
        return (f"nothing new: the watermark {when(state.watermark)} is at or past {when(end)}", *by)
    start = "nothing committed yet" if state.watermark is None else f"since {when(state.watermark)}"
    lines = [f"{start}, up to {when(end)}", *by]
    others = sorted({c.run_id for c in holes if subtract([c.span], [whole]) != normalized([c.span])})
    if others:
        lines += [f"less what run(s) {', '.join(others)} claimed", f"selecting {spans_text(spans)}"]
    if gone:
        lines.append(f"again what run(s) {', '.join(gone)} left unmarked (failed, dry or never ran)")
    return tuple(lines)


@dataclass(frozen=True)
class Candidate:
    """A conversation in the window: when it became stale, and why.

    :param stale_since: the instant it became stale.
    :param conversation_id: its id.
    :param reason: ``"idle"``, ``"snooze_ended"`` or ``"mute_ended"``.
    """

    stale_since: datetime
    conversation_id: str
    reason: str


def earliest(candidates: Iterable[Candidate], limit: int) -> tuple[list[Candidate], Point | None]:
    """Keep the ``limit`` candidates that became stale first (ties by id), and where that cuts the window.

    Memory stays at ``limit + 1`` candidates however many stream by.

    :param candidates: the window's candidates, in any order.
    :param limit: how many to keep.
    :returns: the kept candidates, earliest first, and, if some were left out, the bound up to which
        everything was kept (the last kept candidate).
    """
    smallest = heapq.nsmallest(limit + 1, candidates, key=lambda c: (c.stale_since, c.conversation_id))
    if len(smallest) <= limit:
        return smallest, None
    last = smallest[limit - 1]
    return smallest[:limit], Point(last.stale_since, last.conversation_id)
