"""Helpers for the integration tests that run the example DAGs through a real ``dag.test()``."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_quo.testing import QuoSimulator

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
#: The simulator's clock and the runs' logical date: a midnight, so the daily DAG's data interval ends at it too.
NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)
API_KEY = "example-dags-key"
#: Connection extra for the runs: the client throttle out of the way (except where a DAG sets its own).
FAST = {"requests_per_second": 1000}


def posts(sim: QuoSimulator, action: str) -> list[str]:
    """Ids of the ``POST .../mark-as-{action}`` requests the simulator saw, in arrival order."""
    suffix = f"/mark-as-{action}"
    return [
        r.path.removeprefix("/v1/conversations/").removesuffix(suffix)
        for r in sim.requests
        if r.method == "POST" and r.path.endswith(suffix)
    ]


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """The XCom of a non-mapped task of ``dag_run``, read back from the metadata DB."""
    values = xcoms(dag_run, task_id, key)
    assert list(values) == [-1], f"{task_id}: expected one unmapped XCom, got map indexes {list(values)}"
    return values[-1]


def xcoms(dag_run: Any, task_id: str, key: str = "return_value") -> dict[int, Any]:
    """The XComs of ``task_id`` in ``dag_run`` by map index (``-1`` for a task that is not mapped)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
        ).all()
        return {row.map_index: XComModel.deserialize_value(row) for row in rows}


def task_states(dag_run: Any) -> Counter[tuple[str, str]]:
    """``(task_id, state)`` counts of the run's task instances."""
    return Counter((ti.task_id, str(ti.state)) for ti in dag_run.get_task_instances())


def forget_runs(dag_id: str) -> None:
    """Delete every run of ``dag_id``, its XComs and its watermark Variables: the next run starts with no history."""
    from airflow.models.dagrun import DagRun
    from airflow.models.variable import Variable
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(XComModel).where(XComModel.dag_id == dag_id))
        session.execute(delete(DagRun).where(DagRun.dag_id == dag_id))
        session.execute(delete(Variable).where(Variable.key.startswith(f"quo_watermark__{dag_id}__")))
