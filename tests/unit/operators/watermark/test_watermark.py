"""The watermark and claims, pure: when a conversation became stale, which run owns it, how claims resolve,
and that no schedule of runs (failures, dry runs, runs at once, lost writes, resets) ever leaves a gap."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_quo.exceptions import QuoConnectionError, QuoPermissionError, QuoServerError
from airflow_provider_quo.operators._staleness import TICK, StalenessRule
from airflow_provider_quo.operators._summary import MarkSummary, commits_watermark
from airflow_provider_quo.operators.watermark.state import (
    DONE,
    DROPPED,
    IN_FLIGHT,
    MAX_CLAIMS,
    Claim,
    Point,
    Span,
    WatermarkState,
    handled_ids,
    normalized,
    resolve,
    subtract,
    up_to,
    with_claim,
)
from airflow_provider_quo.operators.watermark.window import Candidate, Window, earliest, plan, spans_text, when

DAY = timedelta(days=1)
T = datetime(2026, 11, 2, tzinfo=timezone.utc)  # the run's time
W = T - DAY  # the watermark: the previous run's time
D = timedelta(days=30)
CLEAN = {"dry_run": False, "failed_count": 0, "not_attempted_count": 0, "requested": 3, "failed": {}}
SELECTION = {"older_than_seconds": D.total_seconds(), "phone_numbers": []}
FORBIDDEN = QuoPermissionError(status=403, title="Not Phone Number User", message="Not a phone number of this user")


def failed_with(error: BaseException) -> dict[str, Any]:
    """CLEAN with one id failed by ``error``, as the marking summary records it (reason and detail)."""
    marking = MarkSummary("read", 1, fail_on_not_found=True)
    marking.record("CN9", error)
    return CLEAN | {"failed_count": 1, "failed": marking.failed, "failed_detail": marking.failed_detail}


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
    return "this" if between(W, T).holds(assessment.stale_since, "CN1") else "earlier"


def between(start: datetime | None, end: datetime, start_id: str | None = None) -> Window:
    """The window ``(start, end]`` (after ``start_id`` at ``start``)."""
    return Window((Span(None if start is None else Point(start, start_id), Point(end)),), end)


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
    window = between(W, T)
    assert not window.holds(W, "CN1")
    assert window.holds(W + TICK, "CN1")
    assert window.holds(T, "CN1")
    assert not window.holds(T + TICK, "CN1")
    assert between(None, T).holds(W - 1000 * DAY, "CN1"), "a full sweep reaches back to the beginning"
    assert between(None, T).full_sweep
    assert not window.full_sweep


def test_after_a_limit_the_window_starts_after_the_last_id_taken_at_the_watermark() -> None:
    window = between(W, T, start_id="CNm")
    assert not window.holds(W, "CNa")
    assert not window.holds(W, "CNm")
    assert window.holds(W, "CNz"), "a later id stale at the same instant was left out: it is this window's"
    assert window.holds(W + TICK, "CNa")


def test_earliest_keeps_the_first_stale_and_cuts_the_window_at_the_last_kept() -> None:
    candidates = [Candidate(W + n * timedelta(hours=1), f"CN{n}", "idle") for n in (5, 1, 3, 2, 4)]
    kept, cut = earliest(iter(candidates), 3)
    assert [c.conversation_id for c in kept] == ["CN1", "CN2", "CN3"]
    assert cut == Point(W + 3 * timedelta(hours=1), "CN3")
    assert earliest(iter(candidates), 5) == (sorted(candidates, key=lambda c: c.stale_since), None)


def span(start: datetime | None, end: datetime) -> Span:
    return Span(None if start is None else Point(start), Point(end))


def test_span_arithmetic() -> None:
    a, b, c = W, W + DAY, W + 2 * DAY
    assert normalized([span(b, c), span(a, b)]) == [span(a, c)], "touching spans merge"
    assert normalized([span(b, a)]) == [], "an empty span disappears"
    assert subtract([span(a, c)], [span(b, b + DAY / 2)]) == [span(a, b), span(b + DAY / 2, c)]
    assert subtract([span(a, b)], [span(None, c)]) == []
    assert up_to([span(a, c)], Point(b, "CN5")) == [Span(Point(a), Point(b, "CN5"))]
    assert up_to([span(a, b), span(b + DAY / 2, c)], Point(a + DAY / 2)) == [span(a, a + DAY / 2)]
    assert spans_text([span(a, b)]) == "(2026-11-01 00:00 UTC, 2026-11-02 00:00 UTC]"


def state(watermark: datetime | None = W, *claims: Claim, committed_by: str | None = "r0") -> WatermarkState:
    return WatermarkState(SELECTION, None if watermark is None else Point(watermark), committed_by, claims)


def test_done_claims_that_touch_the_watermark_move_it_and_others_wait() -> None:
    first, second = Claim("r1", span(W, W + DAY)), Claim("r2", span(W + 2 * DAY, W + 3 * DAY))
    resolved = resolve(state(W, first, second), {"r1": DONE, "r2": DONE})
    assert (resolved.watermark, resolved.committed_by) == (Point(W + DAY), "r1")
    assert resolved.claims == (Claim("r2", second.span, done=True),), "(W+1d, W+2d] is nobody's yet: r2 waits"
    gap_filled = resolve(with_claim(resolved, "r3", [span(W + DAY, W + 2 * DAY)]), {"r3": DONE})
    assert (gap_filled.watermark, gap_filled.committed_by, gap_filled.claims) == (Point(W + 3 * DAY), "r2", ())


def test_the_watermark_never_moves_back() -> None:
    late = state(W + 5 * DAY, Claim("backfill", span(W, W + DAY)))
    resolved = resolve(late, {"backfill": DONE})
    assert resolved.watermark == Point(W + 5 * DAY)
    assert resolved.claims == (), "a claim below the watermark is forgotten"


def test_dropped_claims_vanish_and_in_flight_ones_stay() -> None:
    claims = (Claim("failed", span(W, W + DAY)), Claim("live", span(W + DAY, W + 2 * DAY)))
    resolved = resolve(state(W, *claims), {"failed": DROPPED, "live": IN_FLIGHT})
    assert resolved.watermark == Point(W)
    assert resolved.claims == (claims[1],)


def test_a_re_run_keeps_its_done_claim_and_replaces_only_what_is_in_flight() -> None:
    done = Claim("r1", span(W + DAY, W + 2 * DAY), done=True)
    again = with_claim(state(W, done, Claim("r1", span(W + 3 * DAY, W + 4 * DAY))), "r1", [])
    assert again.claims == (done,), "a re-run that selects nothing does not lose what r1 marked"


def test_a_state_keeps_at_most_max_claims() -> None:
    many = state(W)
    for n in range(MAX_CLAIMS + 5):
        many = with_claim(many, f"r{n}", [span(W + (n + 1) * DAY, W + (n + 1.5) * DAY)])
    assert len(many.claims) == MAX_CLAIMS
    assert many.claims[0].run_id == "r5", "the oldest go: their keys are selected again, nothing is lost"


def test_the_state_round_trips_through_json_and_names_what_is_unreadable() -> None:
    original = with_claim(state(W), "r1", [Span(Point(W), Point(T, "CN9"))])
    assert WatermarkState.from_json(json.loads(json.dumps(original.to_json()))) == original
    for bad in ({"version": 99}, [], {"version": 1, "watermark": {"at": "yesterday"}}):
        with pytest.raises(ValueError, match=r"version|yesterday"):
            WatermarkState.from_json(bad)


def test_plans() -> None:
    assert plan(WatermarkState(SELECTION), "r1", T, fresh="first run").origin == (
        "first run: full sweep up to 2026-11-02 00:00 UTC"
    )
    committed = plan(state(W), "r1", T)
    assert committed.window.spans == (span(W, T),)
    assert committed.lines == ("since 2026-11-01 00:00 UTC, up to 2026-11-02 00:00 UTC", "committed by run r0")
    assert committed.origin == "since 2026-11-01 00:00 UTC, up to 2026-11-02 00:00 UTC; committed by run r0"
    other = plan(state(W, Claim("live", span(W, W + DAY / 2))), "r1", T)
    assert other.window.spans == (span(W + DAY / 2, T),)
    assert "less what run(s) live claimed" in other.origin
    retry = plan(state(W, Claim("r1", span(W, T - DAY / 4))), "r1", T)
    assert retry.window.spans == (span(W, T - DAY / 4),), "a retry selects what it claimed before, no more"
    rerun = plan(state(T), "r1", W)
    assert (rerun.window.spans, rerun.origin.startswith("nothing new")) == ((), True)


def test_bounds_read_to_the_millisecond_and_each_line_stays_short() -> None:
    """Two runs triggered 9 ms apart read apart; no line of a busy window outgrows a narrow log view."""
    first, second = T + timedelta(microseconds=123_456), T + timedelta(microseconds=132_000)
    assert (when(first), when(second)) == ("2026-11-02 00:00:00.123 UTC", "2026-11-02 00:00:00.132 UTC")
    assert when(T + timedelta(seconds=5)) == "2026-11-02 00:00:05 UTC"
    manual = "manual__2026-11-01T09:12:00.123456+00:00"
    busy = state(W, Claim(manual, span(W, W + DAY / 2)), committed_by=manual)
    lines = plan(busy, "r1", second, dropped={manual.replace("09", "10"): ((span(W, T),), frozenset())}).lines
    assert len(lines) == 5
    assert max(len(f"Window: {line}") for line in lines) <= 120, lines


def test_a_dropped_run_is_selected_again_less_the_ids_its_marking_handled() -> None:
    dropped = {"failed": ((span(W, T),), frozenset({"CNdone"}))}
    again = plan(state(W), "r2", T, dropped=dropped)
    assert again.window.holds(T, "CNdone")
    assert again.window.handled_before(T, "CNdone")
    assert not again.window.handled_before(T, "CNother")
    assert not again.window.handled_before(T + DAY, "CNdone"), "a new idle episode is marked again"
    assert "again what run(s) failed left unmarked" in again.origin


def test_handled_ids_come_only_from_a_real_marking() -> None:
    summary = CLEAN | {"marked": ["CN1"], "not_found": ["CN2"], "failed": {"CN3": "Quo API 500"}}
    assert handled_ids(summary) == {"CN1", "CN2"}
    assert handled_ids(summary | {"dry_run": True}) == frozenset()
    assert handled_ids(None) == frozenset()


def test_marking_succeeded_is_a_real_marking_whose_only_failures_are_403s() -> None:
    assert commits_watermark(CLEAN)
    assert commits_watermark(failed_with(FORBIDDEN)), "a 403 cannot pass on a new try"
    for outcome in (
        None,  # the marking task never ran, or pushed nothing
        CLEAN | {"dry_run": True},
        CLEAN | {"dry_run": "false"},
        {k: v for k, v in CLEAN.items() if k != "dry_run"},
        {k: v for k, v in CLEAN.items() if k != "failed"},
        failed_with(QuoServerError(status=503, message="Service Unavailable")),
        failed_with(QuoConnectionError("refused")),
        CLEAN | {"failed_count": 1, "failed": {"CN9": str(FORBIDDEN)}},  # a reason without its detail: not trusted
        CLEAN | {"not_attempted_count": 2},
        ["CN1"],  # not a marking summary
    ):
        assert not commits_watermark(outcome), outcome


class World:
    """Runs of the pure logic against a fixed set of stale keys, with the Variable as a JSON string.

    A run lists (reads the state, resolves, plans, selects up to ``limit``), claims (writes the state,
    from a fresh read or, to play a lost update, from an old snapshot), then marks all, half or none.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.keys = sorted((W + timedelta(hours=self.rng.uniform(-48, 24 * 20)), f"CN{n:03}") for n in range(300)) + [
            (W + DAY, f"CNtie{n}") for n in range(6)
        ]  # a tie at one instant
        self.stored: str | None = None
        self.live: set[str] = set()
        self.summaries: dict[str, Any] = {}
        self.marked: set[str] = set()
        self.pending: dict[str, list[str]] = {}
        self.selected_total = 0

    def read(self, snapshot: str | None = None) -> WatermarkState:
        raw = self.stored if snapshot is None else snapshot
        return WatermarkState.from_json(json.loads(raw)) if raw else WatermarkState(SELECTION)

    def outcomes(self, current: WatermarkState, own: str) -> dict[str, str]:
        result = {}
        for run_id in {c.run_id for c in current.claims}:
            if commits_watermark(self.summaries.get(run_id)):
                result[run_id] = DONE
            else:
                result[run_id] = IN_FLIGHT if run_id == own or run_id in self.live else DROPPED
        return result

    def list(self, run_id: str, end: datetime, limit: int | None = None, snapshot: str | None = None) -> None:
        self.live.add(run_id)
        current = self.read(snapshot)
        outcomes = self.outcomes(current, run_id)
        dropped = {
            r: (tuple(c.span for c in current.claims if c.run_id == r), handled_ids(self.summaries.get(r)))
            for r, outcome in outcomes.items()
            if outcome == DROPPED
        }
        window = plan(resolve(current, outcomes), run_id, end, dropped).window
        candidates = [
            Candidate(at, cid, "idle")
            for at, cid in self.keys
            if window.holds(at, cid) and not window.handled_before(at, cid)
        ]
        kept, cut = earliest(candidates, limit) if limit else (candidates, None)
        base = self.read(snapshot)  # a snapshot plays a write that loses what others wrote since
        claimed = with_claim(resolve(base, outcomes), run_id, up_to(window.spans, cut))
        self.stored = json.dumps(claimed.to_json())
        self.pending[run_id] = [c.conversation_id for c in kept]
        self.selected_total += len(kept)

    def mark(self, run_id: str, how: str) -> None:
        ids = self.pending.pop(run_id, [])
        done = {"all": ids, "half": ids[: len(ids) // 2], "dry": []}[how]
        self.marked.update(done)
        failed = {cid: "Quo API 500" for cid in ids if cid not in done}
        self.summaries[run_id] = CLEAN | {"dry_run": how == "dry", "marked": done, "failed": failed}
        self.live.discard(run_id)

    def assert_no_gap(self) -> None:
        current = self.read()
        if current.watermark is not None:
            key = current.watermark.key
            missed = [cid for at, cid in self.keys if (at, 0, cid) <= key and cid not in self.marked]
            assert not missed, f"below the watermark {current.watermark} but never marked: {missed[:5]}"
        for claim in current.claims:
            if claim.done:
                missed = [cid for at, cid in self.keys if claim.span.holds((at, 0, cid)) and cid not in self.marked]
                assert not missed, f"in done claim {claim} but never marked: {missed[:5]}"


@pytest.mark.parametrize("seed", range(40))
def test_no_schedule_of_runs_leaves_a_gap(seed: int) -> None:
    world = World(seed)
    now = W
    for n in range(60):
        run_id = f"r{n}"
        action = world.rng.choice(["run", "run", "run", "concurrent", "lost", "backfill", "reset", "retry"])
        now += timedelta(hours=world.rng.uniform(0, 30))
        how = world.rng.choice(["all", "all", "all", "half", "dry"])
        limit = world.rng.choice([None, None, None, 3])
        if action in {"run", "backfill"}:
            world.list(run_id, now - (timedelta(days=3) if action == "backfill" else timedelta(0)), limit)
            world.mark(run_id, how)
        elif action in {"concurrent", "lost"}:  # B lists while A waits to mark; "lost": B's write drops A's claim
            snapshot = world.stored
            world.list(run_id + "a", now, limit)
            world.list(run_id + "b", now + timedelta(hours=3), limit, snapshot if action == "lost" else None)
            world.mark(run_id + "b", how)
            world.mark(run_id + "a", world.rng.choice(["all", "half"]))
        elif action == "retry":  # the listing runs twice (a retry), then the marking
            world.list(run_id, now, limit)
            world.list(run_id, now, limit)
            world.mark(run_id, how)
        else:  # someone deletes the Variable: the next run sweeps in full
            world.stored = None
        world.assert_no_gap()
    world.list("final", now, None)
    world.mark("final", "all")
    world.assert_no_gap()
    assert all(cid in world.marked for at, cid in world.keys if at <= now), "a clean run leaves nothing stale"


def test_a_limit_smaller_than_a_tie_still_moves_on_run_after_run() -> None:
    world = World(0)
    world.keys = [(W + DAY / 2, f"CN{n}") for n in range(5)]
    taken: list[str] = []
    for n in range(3):
        world.list(f"r{n}", T, limit=2)
        taken += world.pending[f"r{n}"]
        world.mark(f"r{n}", "all")
    assert taken == ["CN0", "CN1", "CN2", "CN3", "CN4"], "each tied id exactly once, none stalls the next"


def test_in_steady_daily_runs_each_key_is_selected_once() -> None:
    world = World(3)
    for n in range(1, 22):
        world.list(f"day{n}", W + n * DAY)
        world.mark(f"day{n}", "all")
    selected_once = sum(1 for at, _ in world.keys if at <= W + 21 * DAY)
    assert world.selected_total == selected_once
