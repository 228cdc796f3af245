"""A killed marking task resumes where it stopped: a real ``dag.test()`` of the stale-cleanup chain.

The first try of ``mark_read`` dies after 150 of the listed ids have settled (see the DAG
``dags/quo_reliability_resume.py``: no checkpoint is written after the kill and the outcomes of the
calls in flight are lost, as with a SIGKILL). Airflow retries it; the retry reads the checkpoint from
the task instance's ``task_state_store`` (Airflow 3.3) and sends only the ids not settled. The next
run's listing starts from the watermark the resumed run committed.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_quo.operators import checkpoint
from airflow_provider_quo.testing import QuoSimulator
from tests.integration.dag_runs import forget_runs, xcom

try:
    from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401
except ImportError:  # Airflow 3.1 and 3.2
    TASK_STATE_STORE = False
else:
    TASK_STATE_STORE = True

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not TASK_STATE_STORE, reason="resuming needs Airflow 3.3's task_state_store"),
]

DAGS = Path(__file__).resolve().parent / "dags"
DAG_ID = "quo_reliability_resume"
START = datetime(2027, 3, 1, tzinfo=timezone.utc)
KILL_AFTER = 150
WORKERS = 4
#: Ids a consumer may not have seen yet when it stops: one call per worker plus the result queue (2 per worker).
IN_FLIGHT = 3 * WORKERS


def checkpoints(dag_run: Any) -> list[Any]:
    """The marking checkpoints left in the metadata DB's task_state_store for ``dag_run``."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.scalars(
                select(TaskStateStoreModel.value).where(
                    TaskStateStoreModel.run_id == dag_run.run_id, TaskStateStoreModel.key == checkpoint.CHECKPOINT_KEY
                )
            )
        )


def test_a_killed_try_resumes_and_the_watermark_commits(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch, dagbag_class: type, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow import settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(DAGS))
    monkeypatch.setattr(checkpoint, "CHECKPOINT_SECONDS", 0.0)  # 300 ids in well under a second: save each outcome
    forget_runs(DAG_ID)
    with QuoSimulator(api_key="resume-key-5c0d", conversations=700, seed=16, now=START) as sim:
        stale = sim.stale_unread_ids(timedelta(days=30), at=START)
        assert len(stale) > 2 * KILL_AFTER
        sim.latency = 0.002  # calls overlap: outcomes settle out of order, some are in flight at the kill
        monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", sim.connection_json({"requests_per_second": 100_000}))
        dag = dagbag_class(dag_folder=DAGS / f"{DAG_ID}.py").get_dag(DAG_ID)

        dag_run = dag.test(logical_date=START)

        assert dag_run.state == "success"
        tries = {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}
        assert tries == {"list_stale_conversations": ("success", 1), "mark_read": ("success", 2)}
        listed = xcom(dag_run, "list_stale_conversations")
        assert set(listed) == stale

        # The server's side: every id read; the retry re-sent at most what was in flight at the kill.
        calls = Counter(sim.state(cid)["mark_calls"] for cid in listed)
        marks = sum(r.path.endswith("/mark-as-read") for r in sim.requests)
        assert sim.read_ids() >= stale
        assert set(calls) <= {1, 2}
        assert calls[1] >= len(listed) - IN_FLIGHT
        assert len(listed) <= marks <= len(listed) + IN_FLIGHT

        # The summary is the task instance's: every id counted once, though try 2 sent only about half.
        summary = xcom(dag_run, "mark_read")
        assert summary["requested"] == summary["marked_count"] == len(listed)
        assert sorted(summary["marked"]) == sorted(listed)
        assert (summary["not_found_count"], summary["failed_count"], summary["not_attempted_count"]) == (0, 0, 0)
        out = capfd.readouterr().out
        assert f"resuming: {KILL_AFTER} of {len(listed)} settled by try 1" in out
        assert checkpoints(dag_run) == [], "a successful task leaves no checkpoint: clearing it re-runs every id"

        # The next run's listing starts from the watermark the resumed run committed.
        window = xcom(dag_run, "list_stale_conversations", "summary")["window"]
        sim.set_now(START + timedelta(days=1))
        sim.reset_stats()
        next_run = (
            dagbag_class(dag_folder=DAGS / f"{DAG_ID}.py").get_dag(DAG_ID).test(logical_date=START + timedelta(days=1))
        )
        assert next_run.state == "success"
        next_window = xcom(next_run, "list_stale_conversations", "summary")["window"]
        assert next_window["from"] == window["to"] is not None
