"""Proof with a real scheduler: runs at once never mark a conversation twice, and never leave one unmarked.

Issue 25 was measured on a deployment: PostgreSQL, the LocalExecutor with 4 slots, a cleanup DAG without
``max_active_runs=1`` and runs triggered through REST without a logical date. Three runs at once marked
each stale conversation three times: each listing read the watermark before any wrote its claim. Here a
real ``api-server``, ``scheduler`` and ``dag-processor`` (``tests/standalone_airflow.py``; on PostgreSQL
with ``QUO_TEST_DB=postgres``, a database of its own) run ``concurrent_dags/`` against simulators:

1. three runs of ``quo_cleanup_concurrent`` triggered at the same moment (REST, no logical date): the
   listing's default ``max_active_tis_per_dag=1`` makes the scheduler run one listing at a time, and each
   leaves the claims before it to their runs. Every stale conversation is marked once. Three runs of
   ``quo_cleanup_unserialized`` (the limit overridden) at the same moment are measured beside them: no
   gap, but marks over what was needed;
2. a finished run cleared and run again: its window is done, it marks nothing;
3. a run whose marking fails part-way, then the next run: the next one marks exactly what the failed one
   left; together they mark each new stale conversation once.

After each step nothing stale at the last run's time is left unread. Marks are the ``200`` answers to
``mark-as-read``; a failed attempt marks nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_quo.testing import QuoSimulator
from tests.standalone_airflow import RestApi, airflow_env, free_port, fresh_database_url, start_airflow

pytestmark = [pytest.mark.integration, pytest.mark.standalone]

DAGS = Path(__file__).resolve().parent / "concurrent_dags"
SERIALIZED, UNSERIALIZED = "quo_cleanup_concurrent", "quo_cleanup_unserialized"
OLDER_THAN = timedelta(seconds=30)  # the DAGs' PT30S
AT_ONCE = 3
#: Unthrottled, and one attempt per request: a 500 fails its id at once.
CONNECTION = {"requests_per_second": 1000, "retry_limit": 1}


def run_time(run: dict[str, Any]) -> datetime:
    """The listing's time, from the run as the REST API shows it (no logical date: its ``run_after``)."""
    for field in ("data_interval_end", "logical_date", "run_after"):
        if run.get(field):
            return datetime.fromisoformat(str(run[field]).replace("Z", "+00:00"))
    raise AssertionError(f"the run has no time: {run}")


def marks(sim: QuoSimulator) -> Counter[str]:
    """How many times each id was marked (a ``200`` to ``mark-as-read``) since the stats were last reset."""
    return Counter(
        r.path.split("/")[3]
        for r in sim.requests
        if r.method == "POST" and r.path.endswith("/mark-as-read") and r.status == 200
    )


def trigger_at_once(api: RestApi, dag_ids: list[str]) -> dict[str, list[str]]:
    """Trigger a run of each DAG in ``dag_ids`` (repeats allowed) at the same moment; the run ids by DAG."""
    barrier = threading.Barrier(len(dag_ids))
    started: list[tuple[str, str]] = []
    errors: list[str] = []

    def trigger(dag_id: str) -> None:
        barrier.wait()
        for attempt in range(3):  # SQLite may answer a write at the same moment with "database is locked"
            try:
                started.append((dag_id, api.trigger(dag_id)))
                return
            except AssertionError as error:
                errors.append(f"{dag_id} attempt {attempt + 1}: {str(error)[:300]}")
                time.sleep(1)

    threads = [threading.Thread(target=trigger, args=(dag_id,)) for dag_id in dag_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(started) == len(dag_ids), (started, errors)
    return {dag_id: [run_id for d, run_id in started if d == dag_id] for dag_id in set(dag_ids)}


def finished(api: RestApi, dag_id: str, run_ids: list[str], state: str = "success") -> list[dict[str, Any]]:
    runs = [api.wait_finished(dag_id, run_id) for run_id in run_ids]
    assert [run["state"] for run in runs] == [state] * len(runs), runs
    assert all(run["logical_date"] is None for run in runs), runs
    return runs


def rerun(api: RestApi, dag_id: str, run_id: str) -> dict[str, Any]:
    """Clear a finished run and wait until it has run again."""
    before = api.run(dag_id, run_id)["end_date"]
    api.clear(dag_id, run_id)

    def again() -> dict[str, Any] | None:
        run = api.run(dag_id, run_id)
        return run if run["state"] in ("success", "failed") and run["end_date"] != before else None

    return api.components.wait_for(f"run {run_id} to run again", again, 150)


def assert_nothing_left(sim: QuoSimulator, runs: list[dict[str, Any]]) -> None:
    latest = max(run_time(run) for run in runs)
    left = sim.stale_unread_ids(OLDER_THAN, at=latest)
    assert left == set(), f"stale and still unread at {latest}: {sorted(left)}"


def test_runs_at_once_a_cleared_rerun_and_a_failed_run_mark_each_conversation_once(
    airflow_home: Path, request: pytest.FixtureRequest
) -> None:
    started = time.monotonic()
    with (
        QuoSimulator(api_key="quo-key-serialized", conversations=150, seed=25, latency=0.01) as sim,
        QuoSimulator(api_key="quo-key-unserialized", conversations=150, seed=25, latency=0.01) as other,
    ):
        port = free_port()
        connections = {
            "quo_default": sim.connection_json(CONNECTION),
            "quo_unserialized": other.connection_json(CONNECTION),
        }
        env = airflow_env(airflow_home, port, DAGS, connections, fresh_database_url(airflow_home))
        api = RestApi(port, start_airflow(airflow_home, env, request))
        for dag_id in (SERIALIZED, UNSERIALIZED):
            api.wait_dag_ready(dag_id)
        figures: dict[str, Any] = {"database": env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split(":", 1)[0]}

        # 1. Three runs of each DAG triggered at the same moment.
        needed, needed_other = sim.stale_unread_ids(OLDER_THAN), other.stale_unread_ids(OLDER_THAN)
        run_ids = trigger_at_once(api, [SERIALIZED] * AT_ONCE + [UNSERIALIZED] * AT_ONCE)
        runs = finished(api, SERIALIZED, run_ids[SERIALIZED])
        runs_other = finished(api, UNSERIALIZED, run_ids[UNSERIALIZED])
        marked, marked_other = marks(sim), marks(other)
        figures["at once"] = {"marks": sum(marked.values()), "needed": len(needed)}
        figures["at once, overridden"] = {"marks": sum(marked_other.values()), "needed": len(needed_other)}
        assert_nothing_left(sim, runs)
        assert_nothing_left(other, runs_other)
        assert set(marked_other) == needed_other, "overridden: extra marks at worst, never a gap"
        assert set(marked) == needed, figures
        assert max(marked.values()) == 1, f"marked twice: {[i for i, n in marked.items() if n > 1]} {figures}"

        # 2. A finished run cleared and run again: its window is done.
        sim.reset_stats()
        cleared = rerun(api, SERIALIZED, run_ids[SERIALIZED][0])
        assert cleared["state"] == "success", cleared
        figures["cleared re-run"] = {"marks": sum(marks(sim).values()), "needed": 0}
        assert marks(sim) == Counter(), figures

        # 3. New conversations go stale; a run's marking fails part-way; the next run marks what it left.
        sim.reset_stats()
        now = datetime.now(timezone.utc)
        fresh = {
            sim.add_conversation(last_activity_at=now - OLDER_THAN - timedelta(seconds=1))["id"] for _ in range(12)
        }
        sim.fail_next(4, "500", path_contains="mark-as-read")
        failed = finished(api, SERIALIZED, [api.trigger(SERIALIZED)], state="failed")
        marked_by_failed = marks(sim)
        following = finished(api, SERIALIZED, [api.trigger(SERIALIZED)])
        marked = marks(sim)
        figures["failed run, then the next"] = {
            "marks": [sum(marked_by_failed.values()), sum(marked.values()) - sum(marked_by_failed.values())],
            "needed": len(fresh),
        }
        assert_nothing_left(sim, failed + following)
        assert set(marked) == fresh, figures
        assert max(marked.values()) == 1, figures
        assert len(marked_by_failed) == len(fresh) - 4, figures
    print(f"concurrent runs under a real scheduler, {time.monotonic() - started:.0f} s: {figures}")
