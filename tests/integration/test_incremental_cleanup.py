"""A month of runs of the incremental stale cleanup, started every way Airflow starts them, through real Airflow.

The simulated workspace lives (messages, new conversations, snoozes set and ending) between runs of
the example DAG through ``dag.test()``, all in one metadata DB (SQLite, or PostgreSQL with
``QUO_TEST_DB=postgres``: ``make test`` runs both), so each run finds the watermark the runs before it
left. The month mixes how runs start: a dry run first, scheduled runs, runs without a logical date
(``airflow dags trigger``), a UI-form run and a dry run whose logical date is later than the next
scheduled run's, two runs on one day, an outage, and a run that fails halfway. After every complete
run nothing stale is left unread, and every run after the first real one marks at most 1.05 x what it
needed.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_quo.testing import QuoSimulator
from tests.integration.dag_runs import API_KEY, EXAMPLE_DAGS, FAST, posts, xcom

pytestmark = pytest.mark.integration

DAG_ID = "example_quo_stale_unread_cleanup"
LISTING = "list_stale_conversations"
START = datetime(2027, 1, 1, tzinfo=timezone.utc)
OLDER_THAN = timedelta(days=30)


@dataclass(frozen=True)
class Start:
    """One run: when it happens, its logical date (``None``: none, as ``airflow dags trigger`` makes)."""

    at: datetime
    logical_date: datetime | None
    how: str
    dry_run: bool = False
    fail_half: bool = False

    @property
    def run_time(self) -> datetime:
        """The run's time ``T``: its data interval's end, which for the daily DAG is the midnight at or before
        the logical date; a run without a logical date has no data interval, so its ``run_after``."""
        if self.logical_date is None:
            return self.at
        return self.logical_date.replace(hour=0, minute=0, second=0, microsecond=0)


def day(n: float) -> datetime:
    return START + timedelta(days=n)


def month() -> list[Start]:
    """The month's runs, in the order they happen."""
    runs = [Start(day(0), day(0), "scheduled dry run", dry_run=True)]
    for n in range(1, 31):
        if n in {8, 9, 10}:  # the scheduler is down
            continue
        if n in {5, 6, 25}:  # triggered from the CLI or REST without a logical date, in the morning
            runs.append(Start(day(n) + timedelta(hours=6), None, "dags trigger (no logical date)"))
        elif n == 15:  # the DAG paused that day; someone triggers it from the UI's form (a logical date)
            runs.append(Start(day(n) + timedelta(hours=10), day(n) + timedelta(hours=10), "UI form"))
        else:
            runs.append(Start(day(n), day(n), "scheduled", fail_half=n == 18))
        if n == 3:  # a second run that day, without a logical date
            runs.append(Start(day(n) + timedelta(hours=12), None, "dags trigger (no logical date)"))
        if n == 12:  # a dry run whose logical date is later than the next scheduled run's (day 13 00:00)
            runs.append(Start(day(n) + timedelta(hours=12), day(13) + timedelta(hours=6), "dry run", dry_run=True))
        if n == 20:  # a second run that day from the UI's form: its data interval ends at the same midnight
            runs.append(Start(day(n) + timedelta(hours=15), day(n) + timedelta(hours=15), "UI form"))
    return runs


def mark_posts(sim: QuoSimulator) -> int:
    return sum(r.method == "POST" and r.path.endswith("/mark-as-read") for r in sim.requests)


def listing_gets(sim: QuoSimulator) -> int:
    return sum(r.method == "GET" and r.path == "/v1/conversations" for r in sim.requests)


def run_once(run_dag: Any, sim: QuoSimulator, start: Start) -> tuple[Any, dict[str, Any], set[str], int]:
    """Run the DAG as ``start`` says; its run, the listing's summary, what was stale before, marks sent."""
    sim.set_now(start.at)
    stale_before = sim.stale_unread_ids(OLDER_THAN, at=start.run_time)
    conf: dict[str, Any] = {"older_than_days": OLDER_THAN.days, "dry_run": start.dry_run}
    extra: dict[str, Any] = {}
    if start.fail_half:  # half of the marks answer 500, no retry: the mark task fails after trying every id
        sim.fail_next(len(stale_before) // 2, "500", path_contains="mark-as-read")
        extra["retry_limit"] = 1
    sim.reset_stats()
    dag_run = run_dag(DAG_ID, sim, conf, extra=extra, logical_date=start.logical_date, run_after=start.at)
    summary = xcom(dag_run, LISTING, "summary")
    assert summary["window"]["to"] == start.run_time.isoformat(), f"{start.how}: the run's time"
    assert listing_gets(sim) <= math.ceil(summary["scanned"] / 100) + 1, "listing costs one request per page"
    return dag_run, summary, stale_before, mark_posts(sim)


def test_a_month_of_runs_started_every_way_marks_each_stale_conversation_once(run_dag: Any) -> None:
    ledger: list[dict[str, Any]] = []
    first_real = True
    with QuoSimulator(api_key=API_KEY, conversations=1000, seed=8, now=START) as sim:
        for start in month():
            if start.at > sim.now():  # the workspace lives until the run starts
                sim.simulate_activity(
                    start.at - sim.now(), active_fraction=0.02, new_conversations=3, snooze_fraction=0.005
                )
            dag_run, summary, stale_before, sent = run_once(run_dag, sim, start)
            left = sim.stale_unread_ids(OLDER_THAN, at=start.run_time)
            what = f"{start.how} at {start.at:%m-%d %H:%M}: {summary['watermark_origin']}"
            ledger.append({"run": what, "needed": len(stale_before), "sent": sent, "state": str(dag_run.state)})

            if start.dry_run:
                assert (dag_run.state, sent, left) == ("success", 0, stale_before), what
                continue
            if start.fail_half:
                assert dag_run.state == "failed", what
                assert 0 < len(left) < len(stale_before), what
            else:
                assert dag_run.state == "success", what
                assert left == set(), f"{what}: stale and still unread after a complete run: {sorted(left)[:5]}"
            if first_real:
                assert summary["full_sweep"], what
                assert summary["selected"] == len(stale_before) > 500, what
                assert summary["watermark_origin"].startswith("nothing committed yet: full sweep"), what
                first_real = False
            else:
                assert not summary["full_sweep"], what
                assert sent <= 1.05 * len(stale_before), f"{what}: {sent} marks for {len(stale_before)} needed"

    real = [row for row in ledger[1:] if row["needed"] or row["sent"]]
    assert sum(row["needed"] for row in real[1:]) > 150, f"the month had real work: {ledger}"
    assert any("again what run(s)" in row["run"] for row in ledger), "a failed run's range was selected again"


def test_re_running_a_past_run_selects_nothing_new_and_leaves_later_windows_alone(run_dag: Any) -> None:
    with QuoSimulator(api_key=API_KEY, conversations=300, seed=9, now=START) as sim:
        runs: dict[int, Any] = {}
        for n in range(3):
            if n:
                sim.simulate_activity(day(n) - sim.now(), active_fraction=0.05)
            sim.set_now(day(n))
            runs[n] = run_dag(DAG_ID, sim, {"older_than_days": 30}, logical_date=day(n))
        assert xcom(runs[1], LISTING), "day 1 had conversations to mark"

        # Clear and re-run day 1 after day 2 ran: its window is committed, so it selects nothing new.
        sim.reset_stats()
        again = run_dag(DAG_ID, sim, {"older_than_days": 30}, logical_date=day(1))
        assert xcom(again, LISTING) == []
        assert mark_posts(sim) == listing_gets(sim) == 0, "an empty window lists nothing and marks nothing"
        assert xcom(again, LISTING, "summary")["watermark_origin"].startswith("nothing new: the watermark")

        sim.simulate_activity(day(3) - sim.now(), active_fraction=0.05)
        sim.set_now(day(3))
        day3 = run_dag(DAG_ID, sim, {"older_than_days": 30}, logical_date=day(3))
        summary = xcom(day3, LISTING, "summary")
        assert summary["window"]["from"] == day(2).isoformat(), "day 3 still starts where day 2 ended"
        assert sim.stale_unread_ids(OLDER_THAN, at=day(3)) == set()


def airflow_settings() -> dict[str, str]:
    """The settings this process's Airflow runs with, for a child process to share its metadata DB (whatever
    other tests of the session left in ``os.environ``)."""
    from airflow import settings
    from airflow.configuration import conf

    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": str(settings.SQL_ALCHEMY_CONN),
        "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
    }


def wait_for(path: Path, child: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Wait until ``path`` exists (the child process wrote it), failing if the child died first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert child.poll() is None, f"the paused run exited early ({child.returncode})"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def test_two_runs_at_once_leave_no_gap_and_mark_nothing_twice(run_dag: Any, tmp_path: Path) -> None:
    conf = {"older_than_days": OLDER_THAN.days}
    later = day(1) + timedelta(hours=6)
    with QuoSimulator(api_key=API_KEY, conversations=1000, seed=11, now=START) as sim:
        run_dag(DAG_ID, sim, conf, logical_date=day(0))  # the first run: a full sweep, committed
        sim.simulate_activity(day(1) - sim.now(), active_fraction=0.02, new_conversations=3)
        sim.set_now(day(1))
        sim.reset_stats()
        # Run A (scheduled, day 1) in another process: it lists, claims (day 0, day 1], then waits to mark.
        env = {**os.environ, **airflow_settings(), "AIRFLOW_CONN_QUO_DEFAULT": sim.connection_json(FAST)}
        command = [sys.executable, "-m", "tests.integration.paused_run", day(1).isoformat(), str(tmp_path)]
        child = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[2])
        try:
            wait_for(tmp_path / "listed", child)
            # Run B, triggered without a logical date six hours later, lists and marks while A waits.
            sim.simulate_activity(later - sim.now(), active_fraction=0.02)
            sim.set_now(later)
            run_b = run_dag(DAG_ID, sim, conf, logical_date=None, run_after=later)
            b_marked = posts(sim, "read")
            (tmp_path / "go").touch()
            assert child.wait(timeout=120) == 0
        finally:
            child.kill()
        assert (tmp_path / "state").read_text() == "success", "run A marked after B"
        a_marked = posts(sim, "read")[len(b_marked) :]

        b_summary = xcom(run_b, LISTING, "summary")
        assert "less what run(s) manual__" in b_summary["watermark_origin"], "B left A's claim to A"
        assert b_summary["window"]["from"] == day(1).isoformat()
        assert b_marked, "B had work"
        assert a_marked, "A had work"
        assert not set(a_marked) & set(b_marked), "no conversation marked by both runs"
        assert len(set(a_marked)) == len(a_marked), "none marked twice"
        assert sim.stale_unread_ids(OLDER_THAN, at=later) == set(), "no gap: everything stale by B's time is read"

        # The next run starts where both left off: A's and B's claims are done and the watermark moved over them.
        sim.simulate_activity(day(2) - sim.now(), active_fraction=0.02)
        sim.set_now(day(2))
        run_c = run_dag(DAG_ID, sim, conf, logical_date=day(2))
        c_summary = xcom(run_c, LISTING, "summary")
        assert c_summary["window"]["from"] == later.isoformat(), c_summary["watermark_origin"]
        assert sim.stale_unread_ids(OLDER_THAN, at=day(2)) == set()
