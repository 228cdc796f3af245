"""A month of daily runs of the incremental stale cleanup, through real Airflow, against a living workspace.

Every day the simulated workspace lives (messages, new conversations, snoozes set and ending), then
the example DAG runs at midnight with ``dag.test()`` on that logical date, in one SQLite metadata DB,
so each run finds the watermark the runs before it left. The month has a 3-day outage, a dry run, a
run that fails halfway, and a run with a ``limit``. After every complete run nothing stale is unread,
and the marks sent after the first run stay within 5% of the marks needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_quo.testing import QuoSimulator
from tests.integration.dag_runs import API_KEY, xcom

pytestmark = pytest.mark.integration

DAG_ID = "example_quo_stale_unread_cleanup"
START = datetime(2027, 1, 1, tzinfo=timezone.utc)
OLDER_THAN = timedelta(days=30)
OUTAGE = {8, 9, 10}
DRY_RUN_DAY, FAILING_DAY, LIMIT_DAY = 14, 18, 22
LIMIT = 5


@dataclass
class Ledger:
    """What the month cost: marks needed before each real run, marks sent, listing requests."""

    needed: int = 0
    sent: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)


def mark_posts(sim: QuoSimulator) -> int:
    return sum(r.method == "POST" and r.path.endswith("/mark-as-read") for r in sim.requests)


def listing_gets(sim: QuoSimulator) -> int:
    return sum(r.method == "GET" and r.path == "/v1/conversations" for r in sim.requests)


def run_day(run_dag: Any, sim: QuoSimulator, day: int, ledger: Ledger) -> tuple[Any, dict[str, Any], set[str]]:
    """Run the DAG at the midnight of ``day``; return the run, the listing's summary and what was stale before."""
    when = START + timedelta(days=day)
    sim.set_now(when)
    stale_before = sim.stale_unread_ids(OLDER_THAN, at=when)
    conf: dict[str, Any] = {"older_than_days": OLDER_THAN.days}
    extra: dict[str, Any] = {}
    if day == DRY_RUN_DAY:
        conf["dry_run"] = True
    if day == LIMIT_DAY:
        conf["limit"] = LIMIT
    if day == FAILING_DAY:
        # Half of the day's marks answer 500, with no retry: the mark task fails after trying every id.
        sim.fail_next(len(stale_before) // 2, "500", path_contains="mark-as-read")
        extra["retry_limit"] = 1
    sim.reset_stats()
    dag_run = run_dag(DAG_ID, sim, conf, extra=extra, logical_date=when)
    selection = xcom(dag_run, "list_stale_conversations", "summary")
    assert listing_gets(sim) <= math.ceil(selection["scanned"] / 100) + 1, f"day {day}: listing costs one per page"
    if day > 0 and day != DRY_RUN_DAY:
        ledger.needed += len(stale_before)
        ledger.sent += mark_posts(sim)
    ledger.runs.append({"day": day, "state": str(dag_run.state), "needed": len(stale_before), **selection})
    return dag_run, selection, stale_before


def test_a_month_of_daily_runs_marks_each_stale_conversation_once(run_dag: Any) -> None:
    ledger = Ledger()
    with QuoSimulator(api_key=API_KEY, conversations=1000, seed=8, now=START) as sim:
        for day in range(31):
            if day > 0:  # the day since the last midnight (the clock ticked on a little during the run)
                until_midnight = START + timedelta(days=day) - sim.now()
                sim.simulate_activity(until_midnight, active_fraction=0.02, new_conversations=3, snooze_fraction=0.005)
            if day in OUTAGE:
                continue
            dag_run, selection, stale_before = run_day(run_dag, sim, day, ledger)
            when = START + timedelta(days=day)
            left = sim.stale_unread_ids(OLDER_THAN, at=when)

            if day == 0:
                assert selection["window"] == {"from": None, "to": when.isoformat()}, "the first run sweeps all"
                assert selection["selected"] == len(stale_before) > 500
            if day == DRY_RUN_DAY:
                assert dag_run.state == "success"
                assert left == stale_before, "a dry run marks nothing"
            elif day == FAILING_DAY:
                assert dag_run.state == "failed"
                assert 0 < len(left) < len(stale_before)
            elif day == LIMIT_DAY:
                assert dag_run.state == "success"
                assert (selection["selected"], selection["limit_reached"]) == (LIMIT, True)
                assert len(left) == len(stale_before) - LIMIT > 0, "the rest is carried to the next run"
            else:
                assert dag_run.state == "success", f"day {day}"
                assert left == set(), f"day {day}: stale and still unread after a complete run: {sorted(left)[:5]}"

            previous = ledger.runs[-2] if len(ledger.runs) > 1 else None
            if previous is not None and previous["day"] in {day - 1, min(OUTAGE) - 1}:
                committed = previous["state"] == "success" and previous["day"] != DRY_RUN_DAY
                start = previous["next_watermark"] if committed else previous["window"]["from"]
                assert selection["window"]["from"] == start, f"day {day} starts where day {previous['day']} left off"

    assert ledger.sent <= 1.05 * ledger.needed, ledger.runs
    assert ledger.needed > 150, "the month had real work"
    assert sum(run["selected_snooze_ended"] for run in ledger.runs) > 0, "snoozes ended on idle conversations"
    after_outage = next(run for run in ledger.runs if run["day"] == max(OUTAGE) + 1)
    assert after_outage["window"]["from"] == (START + timedelta(days=min(OUTAGE) - 1)).isoformat()


def test_re_running_a_past_day_selects_the_same_set_and_leaves_later_windows_alone(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=300, seed=9, now=START) as sim:
        runs: dict[int, Any] = {}
        for day in range(4):
            if day:
                sim.simulate_activity(START + timedelta(days=day) - sim.now(), active_fraction=0.05)
            if day < 3:
                sim.set_now(START + timedelta(days=day))
                runs[day] = run_dag(DAG_ID, sim, {"older_than_days": 30}, logical_date=START + timedelta(days=day))
        first_time = xcom(runs[1], "list_stale_conversations")
        first_summary = xcom(runs[1], "list_stale_conversations", "summary")
        assert first_time, "day 1 had conversations to mark"

        # Clear and re-run day 1 after day 2 ran: it reads the watermark day 0 left, not day 2's.
        again = run_dag(DAG_ID, sim, {"older_than_days": 30}, logical_date=START + timedelta(days=1))
        assert xcom(again, "list_stale_conversations") == first_time
        assert xcom(again, "list_stale_conversations", "summary")["window"] == first_summary["window"]

        sim.set_now(START + timedelta(days=3))
        day3 = run_dag(DAG_ID, sim, {"older_than_days": 30}, logical_date=START + timedelta(days=3))
        assert (
            xcom(day3, "list_stale_conversations", "summary")["window"]["from"]
            == (START + timedelta(days=2)).isoformat()
        ), "day 3 still starts where day 2 ended"
