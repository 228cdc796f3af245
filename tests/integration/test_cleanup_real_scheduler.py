"""Proof with a real scheduler: the stale cleanup stays incremental for runs without a logical date.

Issue 14 was measured with a real Airflow: runs started by ``airflow dags trigger`` (in Airflow 3 they
have no logical date, as REST triggers without one and asset-triggered runs) each re-marked the whole
idle history. Here a real ``api-server``, ``scheduler`` and ``dag-processor`` (``tests/standalone_airflow.py``,
SQLite, a temporary ``AIRFLOW_HOME``) run the DAGs of ``standalone_dags/`` against two living
simulated workspaces, one per cleanup DAG, so the two scenarios run side by side:

- ``quo_cleanup_triggered`` is triggered twice through ``POST /api/v2/dags/{id}/dagRuns`` with
  ``"logical_date": null``;
- ``quo_cleanup_on_activity`` runs on the asset ``quo://activity``, after each run of
  ``quo_activity_producer`` (itself triggered without a logical date).

The idle age is 30 seconds, so that conversations become stale between the runs in real time: the
run's time is the wall clock (its ``run_after``), so the simulators' clocks follow the wall clock, and
the activity between the runs is a few seconds of ``simulate_activity``, then a bounded wait for it to
age past the idle age. Run 1 marks every stale conversation (a full sweep); run 2 marks exactly the
newly stale ones, not the history (``full_sweep`` False, its window committed by run 1); after each
run nothing stale at the run's time is left unread.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_quo.testing import QuoSimulator
from tests.standalone_airflow import RestApi, airflow_env, free_port, start_airflow

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

DAGS = Path(__file__).resolve().parent / "standalone_dags"
TRIGGERED = "quo_cleanup_triggered"
ON_ACTIVITY = "quo_cleanup_on_activity"
PRODUCER = "quo_activity_producer"
LISTING = "list_stale_conversations"
OLDER_THAN = timedelta(seconds=30)  # the DAGs' PT30S
#: The activity between runs: a few seconds of the workspace's life.
BURST = timedelta(seconds=2)
FAST = {"requests_per_second": 1000}


def parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def reference_time(run: dict[str, Any]) -> datetime:
    """The listing's rule, from the run as the REST API shows it: data interval end, else logical date,
    else run_after."""
    for field in ("data_interval_end", "logical_date", "run_after"):
        value = parse(run.get(field))
        if value is not None:
            return value
    raise AssertionError(f"the run has no time: {run}")


def marked_ids(sim: QuoSimulator) -> list[str]:
    """The ids the simulator received a ``mark-as-read`` for since its stats were last reset."""
    return [r.path.split("/")[3] for r in sim.requests if r.method == "POST" and r.path.endswith("/mark-as-read")]


def live_activity(sim: QuoSimulator) -> None:
    """A few seconds of the workspace's life: messages on some conversations, two new ones."""
    sim.simulate_activity(BURST, active_fraction=0.1, new_conversations=2)


class Scenario:
    """One cleanup DAG, its simulator, and how to start a run of it."""

    def __init__(self, dag_id: str, sim: QuoSimulator, api: RestApi) -> None:
        self.dag_id = dag_id
        self.sim = sim
        self.api = api
        self.stale_before: set[str] = set()
        self.measured_at = datetime.now(timezone.utc)
        self.ledger: list[dict[str, Any]] = []

    def start(self) -> None:
        """Note what is stale now, then start the run."""
        self.sim.reset_stats()
        self.measured_at = datetime.now(timezone.utc)
        self.stale_before = self.sim.stale_unread_ids(OLDER_THAN, at=self.measured_at)
        if self.dag_id == TRIGGERED:
            self.api.trigger(self.dag_id)
        else:
            self.api.trigger(PRODUCER)

    def finish(self, number: int) -> dict[str, Any]:
        """Wait for run ``number`` (1-based), check it, and return its listing summary."""

        def run_started() -> dict[str, Any] | None:
            runs = self.api.runs(self.dag_id)
            return runs[number - 1] if len(runs) >= number else None

        run = self.api.components.wait_for(f"run {number} of {self.dag_id}", run_started, 90)
        run = self.api.wait_finished(self.dag_id, run["dag_run_id"])
        what = f"{self.dag_id} run {number} ({run['run_type']}, logical_date {run['logical_date']})"
        assert run["state"] == "success", f"{what}: {run['state']}"
        assert run["logical_date"] is None, what
        summary = self.api.xcom(self.dag_id, run["dag_run_id"], LISTING, "summary")
        run_time = reference_time(run)
        assert parse(summary["window"]["to"]) == run_time, f"{what}: the listing's time is not {run_time}: {run}"
        # What was stale when the run was started is what is stale at its time, unless the run's time is so
        # late that the activity just before run 1 has aged past the idle age meanwhile (an asset-triggered
        # run is created when the scheduler next sees the event: seconds, not half a minute).
        lag = run_time - self.measured_at
        assert lag < OLDER_THAN - BURST - timedelta(seconds=1), f"{what}: created {lag} after the trigger"
        marked = marked_ids(self.sim)
        left = self.sim.stale_unread_ids(OLDER_THAN, at=run_time)
        assert left == set(), f"{what}: stale and still unread after the run: {sorted(left)}"
        assert sorted(marked) == sorted(self.stale_before), f"{what}: marked {len(marked)}, {self.stale_before=}"
        assert summary["selected"] == len(marked), what
        self.ledger.append(
            {
                "run": what,
                "marks": len(marked),
                "full_sweep": summary["full_sweep"],
                "window": summary["watermark_origin"],
                "times": {k: run.get(k) for k in ("run_after", "data_interval_end", "logical_date")},
            }
        )
        return {**summary, "run_id": run["dag_run_id"]}


def test_runs_without_a_logical_date_stay_incremental_under_a_real_scheduler(
    airflow_home: Path, request: pytest.FixtureRequest
) -> None:
    started = time.monotonic()
    with (
        QuoSimulator(api_key="quo-key-triggered", conversations=80, seed=14) as sim_triggered,
        QuoSimulator(api_key="quo-key-asset", conversations=80, seed=41) as sim_asset,
    ):
        port = free_port()
        connections = {"quo_default": sim_triggered.connection_json(FAST), "quo_asset": sim_asset.connection_json(FAST)}
        components = start_airflow(airflow_home, airflow_env(airflow_home, port, DAGS, connections), request)
        api = RestApi(port, components)
        for dag_id in (TRIGGERED, ON_ACTIVITY, PRODUCER):
            api.wait_dag_ready(dag_id)
        scenarios = [Scenario(TRIGGERED, sim_triggered, api), Scenario(ON_ACTIVITY, sim_asset, api)]

        # Activity just before run 1: recent at run 1's time, stale by run 2's.
        for scenario in scenarios:
            live_activity(scenario.sim)
            scenario.start()
        first = [scenario.finish(1) for scenario in scenarios]

        # Activity between the runs, then a bounded wait until it has aged past the idle age.
        for scenario in scenarios:
            live_activity(scenario.sim)
        stale_at = max(scenario.sim.now() for scenario in scenarios) + OLDER_THAN + timedelta(seconds=2)
        time.sleep(max(0.0, min(40.0, (stale_at - datetime.now(timezone.utc)).total_seconds())))
        for scenario in scenarios:
            scenario.start()
        second = [scenario.finish(2) for scenario in scenarios]

    ledgers = [row for scenario in scenarios for row in scenario.ledger]
    for scenario, run_1, run_2 in zip(scenarios, first, second, strict=True):
        marks_1, marks_2 = (row["marks"] for row in scenario.ledger)
        assert run_1["full_sweep"] is True, ledgers
        assert run_1["watermark_origin"].startswith("first run: full sweep"), ledgers
        assert run_2["full_sweep"] is False, ledgers
        assert run_1["run_id"] in run_2["watermark_origin"], f"run 2's window is not run 1's commit: {ledgers}"
        # Run 2 had new work, and marked it only: not the history run 1 marked (the bug re-marked it all).
        assert 0 < marks_2 < marks_1 / 2, ledgers
        assert run_2["skipped_before_window"] >= marks_1 - marks_2, ledgers
    print(f"real-scheduler cleanup proof took {time.monotonic() - started:.0f} s: {ledgers}")
