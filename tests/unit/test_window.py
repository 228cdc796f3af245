"""The incremental window at its edges: when a conversation became stale, which run owns it, and the watermark."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_quo.operators._staleness import TICK, StalenessRule
from airflow_provider_quo.operators._window import (
    Candidate,
    Window,
    earliest,
    marking_succeeded,
    watermark_after,
    window_record,
)

DAY = timedelta(days=1)
T = datetime(2026, 11, 2, tzinfo=timezone.utc)  # the run's time
W = T - DAY  # the watermark: the previous run's time
D = timedelta(days=30)
CLEAN = {"dry_run": False, "failed_count": 0, "not_attempted_count": 0, "requested": 3}


def conversation(last: str | None, created: str | None = "2026-01-01T00:00:00Z", **fields: Any) -> dict[str, Any]:
    return {"id": "CN1", "lastActivityAt": last, "createdAt": created, "deletedAt": None} | {
        "snoozedUntil": None,
        "mutedUntil": None,
        **fields,
    }


def owner(conv: dict[str, Any]) -> str:
    """Which run selects ``conv``: ``"this"`` (window (W, T]), ``"earlier"``, or ``"later"`` (not stale yet)."""
    assessment = StalenessRule(cutoff=T - D, now=T).assess(conv)
    if assessment.stale_since is None:
        return "later"
    return "this" if assessment.stale_since in Window(W, T) else "earlier"


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (iso(T - D), "later"),  # idle exactly 30 days at T: not yet "longer than"
        (iso(T - D - TICK), "this"),  # one microsecond more
        (iso(W - D), "this"),  # idle exactly 30 days at W: the previous run did not take it
        (iso(W - D - TICK), "earlier"),  # stale at W already: the previous run took it
        ("2026-10-03T00:00:00.000-00:00", "later"),  # T - D, whatever the zero offset's spelling
        ("2026-10-03T01:00:00+02:00", "this"),  # = 2026-10-02T23:00Z: an offset other than Z
        ("2026-10-02T01:00:00+02:00", "earlier"),  # = 2026-10-01T23:00Z, before W - D
        ("2026-10-03T00:00:00", "later"),  # no offset: read as UTC
    ],
)
def test_idle_age_crossing_the_cutoff_belongs_to_one_run(last: str, expected: str) -> None:
    assert owner(conversation(last)) == expected


def test_null_last_activity_falls_back_to_created_at() -> None:
    assert owner(conversation(None, created=iso(T - D - timedelta(hours=1)))) == "this"
    assert owner(conversation(None, created=iso(W - D - timedelta(hours=1)))) == "earlier"
    assert owner(conversation(None, created=None)) == "later"


@pytest.mark.parametrize(
    ("snoozed_until", "expected_owner", "reason"),
    [
        (T, "this", "snooze_ended"),  # ends exactly at the run's time: stale now
        (T + TICK, "later", "snoozed"),  # still snoozed at T
        (W + TICK, "this", "snooze_ended"),
        (W, "earlier", "snooze_ended"),  # ended exactly at the previous run's time: that run took it
        (T - DAY * 70, "earlier", "idle"),  # ended before the idle age was reached (T - 60 d): idle decides
    ],
)
def test_a_snooze_ending_at_a_boundary(snoozed_until: datetime, expected_owner: str, reason: str) -> None:
    conv = conversation(iso(T - 90 * DAY), snoozedUntil=iso(snoozed_until))
    assert owner(conv) == expected_owner
    assessment = StalenessRule(cutoff=T - D, now=T).assess(conv)
    assert assessment.verdict == reason


def test_a_mute_holds_only_when_muted_conversations_are_excluded() -> None:
    conv = conversation(iso(T - 90 * DAY), mutedUntil=iso(T - timedelta(hours=1)))
    assert StalenessRule(cutoff=T - D, now=T).assess(conv).verdict == "idle"
    excluded = StalenessRule(cutoff=T - D, now=T, include_muted=False).assess(conv)
    assert (excluded.verdict, excluded.stale_since) == ("mute_ended", T - timedelta(hours=1))


def test_the_window_is_open_below_and_closed_above() -> None:
    window = Window(W, T)
    assert W not in window
    assert W + TICK in window
    assert T in window
    assert T + TICK not in window
    assert W - 1000 * DAY in Window(None, T), "a full sweep reaches back to the beginning"
    assert Window(None, T).full_sweep
    assert not window.full_sweep


def test_earliest_keeps_the_first_stale_and_stops_the_watermark_before_the_first_left_out() -> None:
    candidates = [Candidate(W + n * timedelta(hours=1), f"CN{n}", "idle") for n in (5, 1, 3, 2, 4)]
    kept, carried_from = earliest(iter(candidates), 3)
    assert [c.conversation_id for c in kept] == ["CN1", "CN2", "CN3"]
    assert carried_from == W + 4 * timedelta(hours=1) - TICK
    assert all(c.stale_since <= carried_from for c in kept), "everything kept is behind the new watermark"
    assert earliest(iter(candidates), 5) == (sorted(candidates, key=lambda c: c.stale_since), None)


def test_earliest_with_ties_leaves_the_tied_ones_to_the_next_run() -> None:
    same = W + DAY / 2
    kept, carried_from = earliest([Candidate(same, "CNb", "idle"), Candidate(same, "CNa", "idle")], 1)
    assert [c.conversation_id for c in kept] == ["CNa"]
    assert carried_from == same - TICK, "CNb (and CNa again) belong to the next window: nothing is skipped"


def test_the_watermark_advances_only_on_a_clean_real_marking() -> None:
    record = window_record(Window(W, T), T, "scheduled__2")
    assert watermark_after(record, CLEAN) == (T, "committed by run scheduled__2")
    for outcome in (
        None,  # the marking task failed (no return value) or has not run
        CLEAN | {"dry_run": True},
        CLEAN | {"failed_count": 1},
        CLEAN | {"not_attempted_count": 2},
        ["CN1"],  # not a marking summary
    ):
        watermark, origin = watermark_after(record, outcome)
        assert watermark == W, outcome
        assert "kept" in origin


def test_no_record_means_a_full_sweep_and_a_full_sweep_record_carries_none() -> None:
    assert watermark_after(None, CLEAN) == (
        None,
        "no earlier run recorded a window (Airflow logs 'XCom not found' for that): a full sweep",
    )
    assert watermark_after({"something": "else"}, CLEAN)[0] is None
    watermark, origin = watermark_after(window_record(Window(None, T), T, "r"), None)
    assert watermark is None
    assert origin.startswith("run r did not mark everything")


def test_an_unreadable_record_names_the_value_and_the_way_out() -> None:
    with pytest.raises(ValueError, match=r"'yesterday'.*full_sweep=True"):
        watermark_after({"next_watermark": "yesterday", "from": None, "run_id": "r"}, CLEAN)


def test_marking_succeeded_needs_an_explicit_real_run() -> None:
    assert marking_succeeded(CLEAN)
    assert not marking_succeeded({k: v for k, v in CLEAN.items() if k != "dry_run"})
    assert not marking_succeeded(CLEAN | {"dry_run": "false"})
