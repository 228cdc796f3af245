"""Keys, spans, claims and the :class:`WatermarkState` of one listing task; how a run resolves the claims.

Pure logic, no Airflow; the idea is told in :mod:`airflow_provider_quo.operators.watermark`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from airflow_provider_quo.operators._staleness import parse_api_datetime

#: Outcomes of a claim (see :func:`resolve`).
DONE, IN_FLIGHT, DROPPED = "done", "in_flight", "dropped"
#: The most claims a state keeps; the oldest beyond it are dropped (safe: their keys are selected again).
MAX_CLAIMS = 32
STATE_VERSION = 1

#: A key as a sortable tuple: (instant, 0, id) for one conversation, (instant, 1, "") for "every id at instant".
Key = tuple[datetime, int, str]
_BOTTOM: Key = (datetime.min.replace(tzinfo=timezone.utc), -1, "")


@dataclass(frozen=True)
class Point:
    """A key bound: the instant ``at`` and, after a ``limit``, the last id taken at it (``None``: every id).

    :param at: the instant.
    :param last_id: the last conversation id at ``at`` this bound includes; ``None`` includes them all.
    """

    at: datetime
    last_id: str | None = None

    @property
    def key(self) -> Key:
        """The bound as a sortable :data:`Key`."""
        return (self.at, 1, "") if self.last_id is None else (self.at, 0, self.last_id)

    @classmethod
    def of(cls, key: Key) -> Point | None:
        """The bound of a :data:`Key` (``None`` for the bottom, before everything)."""
        return None if key == _BOTTOM else cls(key[0], None if key[1] else key[2])


def conversation_key(stale_since: datetime, conversation_id: str) -> Key:
    """The key of a conversation that became stale at ``stale_since``."""
    return (stale_since, 0, conversation_id)


@dataclass(frozen=True)
class Span:
    """The keys ``lo < key <= hi``; ``lo=None`` reaches back to the beginning of time.

    :param lo: the exclusive lower bound, ``None`` for none.
    :param hi: the inclusive upper bound.
    """

    lo: Point | None
    hi: Point

    @property
    def keys(self) -> tuple[Key, Key]:
        """The bounds as keys."""
        return (_BOTTOM if self.lo is None else self.lo.key, self.hi.key)

    def holds(self, key: Key) -> bool:
        """Whether ``key`` is in the span."""
        lo, hi = self.keys
        return lo < key <= hi


def _span(lo: Key, hi: Key) -> Span:
    upper = Point.of(hi)
    assert upper is not None, "a non-empty span has an upper bound"
    return Span(Point.of(lo), upper)


def normalized(spans: Iterable[Span]) -> list[Span]:
    """The union of ``spans``: sorted, without empty spans, overlapping and touching spans merged."""
    merged: list[list[Key]] = []
    for lo, hi in sorted(s.keys for s in spans):
        if lo >= hi:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [_span(lo, hi) for lo, hi in merged]


def subtract(spans: Iterable[Span], holes: Iterable[Span]) -> list[Span]:
    """The keys of ``spans`` that no span of ``holes`` holds."""
    result = normalized(spans)
    for hole_lo, hole_hi in (h.keys for h in normalized(holes)):
        pieces: list[Span] = []
        for lo, hi in (s.keys for s in result):
            if hole_hi <= lo or hole_lo >= hi:
                pieces.append(_span(lo, hi))
                continue
            if lo < hole_lo:
                pieces.append(_span(lo, hole_lo))
            if hole_hi < hi:
                pieces.append(_span(hole_hi, hi))
        result = pieces
    return result


def up_to(spans: Iterable[Span], bound: Point | None) -> list[Span]:
    """The keys of ``spans`` up to ``bound`` (all of them for ``None``)."""
    if bound is None:
        return normalized(spans)
    return [_span(lo, min(hi, bound.key)) for lo, hi in (s.keys for s in normalized(spans)) if lo < bound.key]


@dataclass(frozen=True)
class Claim:
    """A span a run selected, and whether its marking is known to have succeeded.

    :param run_id: the run.
    :param span: what it selected.
    :param done: its marking succeeded.
    """

    run_id: str
    span: Span
    done: bool = False


@dataclass(frozen=True)
class WatermarkState:
    """One listing task's watermark, claims and selection settings (see the module docstring).

    :param selection: the settings that decide what is stale.
    :param watermark: every key up to it was marked; ``None``: nothing yet (a full sweep).
    :param committed_by: the run whose claim moved the watermark last.
    :param claims: recent runs' claims, oldest first.
    """

    selection: dict[str, Any]
    watermark: Point | None = None
    committed_by: str | None = None
    claims: tuple[Claim, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """The state as the JSON object the Variable holds."""
        return {
            "version": STATE_VERSION,
            "selection": self.selection,
            "watermark": _point_json(self.watermark),
            "committed_by": self.committed_by,
            "claims": [
                {"run_id": c.run_id, "from": _point_json(c.span.lo), "to": _point_json(c.span.hi), "done": c.done}
                for c in self.claims
            ],
        }

    @classmethod
    def from_json(cls, value: Any) -> WatermarkState:
        """Read :meth:`to_json`'s object back.

        :raises ValueError: naming what is unreadable.
        """
        if not isinstance(value, dict) or value.get("version") != STATE_VERSION:
            raise ValueError(f"not a version {STATE_VERSION} watermark state: {str(value)[:80]!r}")
        claims = []
        for raw in value.get("claims") or ():
            hi = _point(raw["to"])
            if hi is None:
                raise ValueError(f"a claim without an upper bound: {raw!r}")
            claims.append(Claim(str(raw["run_id"]), Span(_point(raw["from"]), hi), bool(raw.get("done"))))
        selection, committed_by = value.get("selection") or {}, value.get("committed_by")
        return cls(selection, _point(value.get("watermark")), committed_by, tuple(claims))


def _point_json(point: Point | None) -> dict[str, Any] | None:
    return None if point is None else {"at": point.at.isoformat(), "id": point.last_id}


def _point(raw: Any) -> Point | None:
    if raw is None:
        return None
    at = parse_api_datetime(raw.get("at")) if isinstance(raw, dict) else None
    if at is None:
        raise ValueError(f"unreadable bound {raw!r}")
    last_id = raw.get("id")
    return Point(at, None if last_id is None else str(last_id))


def resolve(state: WatermarkState, outcomes: dict[str, str]) -> WatermarkState:
    """The state once each claim's run outcome is known: done claims marked, dropped claims removed, the
    watermark moved over the done spans that touch it, and at most :data:`MAX_CLAIMS` claims kept.

    :param state: the state read.
    :param outcomes: :data:`DONE`, :data:`IN_FLIGHT` or :data:`DROPPED` by run id; runs not named keep
        their claims as they are.
    """
    claims = [
        replace(c, done=c.done or outcomes.get(c.run_id) == DONE)
        for c in state.claims
        if outcomes.get(c.run_id) != DROPPED
    ]
    watermark, committed_by = state.watermark, state.committed_by
    moved = True
    while moved:
        moved = False
        for claim in claims:
            lo, hi = claim.span.keys
            floor = _BOTTOM if watermark is None else watermark.key
            if claim.done and lo <= floor < hi:
                watermark, committed_by, moved = claim.span.hi, claim.run_id, True
    floor = _BOTTOM if watermark is None else watermark.key
    kept = [c for c in claims if c.span.keys[1] > floor]
    return replace(state, watermark=watermark, committed_by=committed_by, claims=tuple(kept[-MAX_CLAIMS:]))


def with_claim(state: WatermarkState, run_id: str, spans: Sequence[Span]) -> WatermarkState:
    """The state with ``run_id``'s claims in flight replaced by ``spans`` (its done ones stay)."""
    others = [c for c in state.claims if c.run_id != run_id or c.done]
    mine = [Claim(run_id, span) for span in normalized(spans)]
    return resolve(replace(state, claims=(*others, *mine)), {})


def handled_ids(summary: Any) -> frozenset[str]:
    """The ids a real (not dry) marking did not leave to be marked again: marked, or gone (404).

    A run whose marking failed part-way is dropped, so its keys are selected again; these ids among them
    are skipped (the summary lists marked ids unless ``include_marked_ids=False``).

    :param summary: the marking task's XCom ``summary``.
    """
    if not isinstance(summary, dict) or summary.get("dry_run") is not False:
        return frozenset()
    ids = [*(summary.get("marked") or ()), *(summary.get("not_found") or ())]
    return frozenset(str(conversation_id) for conversation_id in ids)
