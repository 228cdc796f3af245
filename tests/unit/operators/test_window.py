"""The incremental window at its edges: when a conversation became stale, which run owns it, and the watermark."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_quo.exceptions import QuoConnectionError, QuoPermissionError, QuoServerError
from airflow_provider_quo.operators._staleness import TICK, StalenessRule
from airflow_provider_quo.operators._summary import commits_watermark, failure_detail
from airflow_provider_quo.operators._window import (
    NO_RECORD,
    Candidate,
    Watermark,
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
CLEAN = {"dry_run": False, "failed_count": 0, "not_attempted_count": 0, "requested": 3, "failed": {}}
SELECTION = {"older_than_seconds": D.total_seconds(), "phone_numbers": []}
FORBIDDEN = QuoPermissionError(status=403, title="Not Phone Number User", message="Not a phone number of this user")


def failed_with(error: BaseException) -> dict[str, Any]:
    """CLEAN with one id failed by ``error``, as the marking summary records it (reason and detail)."""
    return CLEAN | {"failed_count": 1, "failed": {"CN9": str(error)}, "failed_detail": {"CN9": failure_detail(error)}}


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
    return "this" if Window(W, T).holds(assessment.stale_since, "CN1") else "earlier"


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
    assert not window.holds(W, "CN1")
    assert window.holds(W + TICK, "CN1")
    assert window.holds(T, "CN1")
    assert not window.holds(T + TICK, "CN1")
    assert Window(None, T).holds(W - 1000 * DAY, "CN1"), "a full sweep reaches back to the beginning"
    assert Window(None, T).full_sweep
    assert not window.full_sweep


def test_after_a_limit_the_window_starts_after_the_last_id_taken_at_the_watermark() -> None:
    window = Window(W, T, start_id="CNm")
    assert not window.holds(W, "CNa")
    assert not window.holds(W, "CNm")
    assert window.holds(W, "CNz"), "a later id stale at the same instant was left out: it is this window's"
    assert window.holds(W + TICK, "CNa")


def test_earliest_keeps_the_first_stale_and_stops_the_watermark_at_the_last_kept() -> None:
    candidates = [Candidate(W + n * timedelta(hours=1), f"CN{n}", "idle") for n in (5, 1, 3, 2, 4)]
    kept, carried = earliest(iter(candidates), 3)
    assert [c.conversation_id for c in kept] == ["CN1", "CN2", "CN3"]
    assert carried == Watermark(W + 3 * timedelta(hours=1), "CN3")
    assert earliest(iter(candidates), 5) == (sorted(candidates, key=lambda c: c.stale_since), None)


def test_a_limit_smaller_than_a_tie_still_moves_on_run_after_run() -> None:
    same = W + DAY / 2
    tied = [Candidate(same, f"CN{n}", "idle") for n in range(5)]
    taken: list[str] = []
    start = Watermark(W)
    for _ in range(3):
        window = Window(start.at, T, start.last_id)
        kept, carried = earliest([c for c in tied if window.holds(c.stale_since, c.conversation_id)], 2)
        taken += [c.conversation_id for c in kept]
        start = carried or Watermark(T)
    assert taken == ["CN0", "CN1", "CN2", "CN3", "CN4"], "each tied id exactly once, none stalls the next"


def test_the_watermark_advances_only_on_a_real_marking_whose_only_failures_are_403s() -> None:
    record = window_record(Window(W, T), Watermark(T), "scheduled__2", SELECTION)
    assert watermark_after(record, CLEAN, SELECTION) == (Watermark(T), "committed by run scheduled__2")
    forbidden = failed_with(FORBIDDEN)
    assert watermark_after(record, forbidden, SELECTION)[0] == Watermark(T), "a 403 cannot pass on a new try"
    for outcome in (
        None,  # the marking task never ran, or pushed nothing
        CLEAN | {"dry_run": True},
        failed_with(QuoServerError(status=503, title="Service Unavailable")),
        failed_with(QuoConnectionError("refused")),
        CLEAN | {"failed_count": 1, "failed": {"CN9": str(FORBIDDEN)}},  # a reason without its detail: not trusted
        CLEAN | {"not_attempted_count": 2},
        ["CN1"],  # not a marking summary
    ):
        watermark, origin = watermark_after(record, outcome, SELECTION)
        assert watermark == Watermark(W), outcome
        assert "kept" in origin


def test_a_record_made_with_another_selection_means_a_full_sweep() -> None:
    record = window_record(Window(W, T), Watermark(T), "scheduled__2", SELECTION)
    for changed in (SELECTION | {"older_than_seconds": 60 * 86400.0}, SELECTION | {"phone_numbers": ["PN1"]}):
        watermark, origin = watermark_after(record, CLEAN, changed)
        assert watermark == Watermark(None)
        assert "other settings" in origin


def test_no_record_means_a_full_sweep_and_a_full_sweep_record_carries_none() -> None:
    assert watermark_after(None, CLEAN, SELECTION) == (Watermark(None), NO_RECORD)
    assert watermark_after({"something": "else"}, CLEAN, SELECTION)[0] == Watermark(None)
    watermark, origin = watermark_after(window_record(Window(None, T), Watermark(T), "r", SELECTION), None, SELECTION)
    assert watermark == Watermark(None)
    assert origin.startswith("run r did not mark everything")


def test_an_unreadable_record_names_the_value_and_the_way_out() -> None:
    record = {"next_watermark": "yesterday", "from": None, "run_id": "r", "selection": SELECTION}
    with pytest.raises(ValueError, match=r"'yesterday'.*full_sweep=True"):
        watermark_after(record, CLEAN, SELECTION)


def test_marking_succeeded_needs_an_explicit_real_run() -> None:
    assert marking_succeeded(CLEAN)
    assert not marking_succeeded({k: v for k, v in CLEAN.items() if k != "dry_run"})
    assert not marking_succeeded(CLEAN | {"dry_run": "false"})
    assert not marking_succeeded({k: v for k, v in CLEAN.items() if k != "failed"})


def test_the_decision_reads_the_failure_kind_never_its_wording() -> None:
    reworded = failed_with(FORBIDDEN) | {"failed": {"CN9": "any wording at all"}}
    assert commits_watermark(reworded), "the 403's kind commits, whatever its message says"
    lookalike = failed_with(QuoServerError(status=503, message="x")) | {"failed": {"CN9": str(FORBIDDEN)}}
    assert not commits_watermark(lookalike), "a 503 reworded to read like a 403 still holds the watermark back"
