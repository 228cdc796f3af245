"""Fixtures of the integration tests: ``run_dag`` runs an example DAG through ``dag.test()`` against a simulator
(``redis_server`` is in ``tests/conftest.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from airflow_provider_quo.testing import QuoSimulator
from tests.integration.dag_runs import EXAMPLE_DAGS, FAST, NOW, forget_runs


def _keep_runs_without_a_logical_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``dag.test(logical_date=None)`` leave the other runs alone, as ``airflow dags trigger`` does.

    For ``logical_date=None``, ``dag.test()`` first clears the task instances of *every* run of the DAG
    (``clear_dags`` between the dates ``None`` and ``None``: no bound), then ``get_or_create_dagrun`` deletes
    an earlier run without a logical date, with its XComs. ``airflow dags trigger`` and the REST API do
    neither: here the clear is skipped and the run created as ``get_or_create_dagrun`` creates it.
    """
    from airflow.models import dagrun
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    try:
        from airflow.serialization.definitions.dag import SerializedDAG
    except ImportError:  # Airflow 3.1
        from airflow.serialization.serialized_objects import SerializedDAG  # type: ignore[no-redef]
    original = dagrun.get_or_create_dagrun
    original_clear = SerializedDAG.clear_dags

    def clear(cls: type, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("start_date") is None and kwargs.get("end_date") is None:
            return 0
        return original_clear(*args, **kwargs)

    monkeypatch.setattr(SerializedDAG, "clear_dags", classmethod(clear))

    def create(**kwargs: Any) -> Any:
        if kwargs["logical_date"] is not None:
            return original(**kwargs)
        dag, session = kwargs.pop("dag"), kwargs.pop("session")
        return dag.create_dagrun(run_type=DagRunType.MANUAL, state=DagRunState.RUNNING, session=session, **kwargs)

    monkeypatch.setattr(dagrun, "get_or_create_dagrun", create)


@pytest.fixture
def run_dag(airflow_db: None, monkeypatch: pytest.MonkeyPatch, dagbag_class: type) -> Any:
    """``run_dag(dag_id, sim, conf, extra, logical_date, run_after)``: point ``quo_default`` at ``sim`` (with the
    connection extra ``FAST`` updated by ``extra``) and ``dag.test()`` one run at ``logical_date`` (default
    ``NOW``); ``logical_date=None`` with ``run_after`` makes a run without a logical date, as
    ``airflow dags trigger`` and REST triggers without one do.

    Each test starts with no earlier run of any DAG it runs (so no watermark leaks in from another
    test); the runs of one test build on each other, as a deployment's do. The DAG file is parsed
    afresh for every run: in Airflow 3.3 an in-process run writes the run conf into the task's own
    ``Param`` objects, so a second ``dag.test()`` of the same DAG object would inherit the first
    run's params wherever its conf is silent.
    """
    DagBag = dagbag_class
    forgotten: set[str] = set()
    _keep_runs_without_a_logical_date(monkeypatch)

    def run(
        dag_id: str,
        sim: QuoSimulator,
        conf: dict[str, Any],
        extra: dict[str, Any] | None = None,
        logical_date: datetime | None = NOW,
        run_after: datetime | None = None,
    ) -> Any:
        if dag_id not in forgotten:
            forget_runs(dag_id)
            forgotten.add(dag_id)
        monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", sim.connection_json({**FAST, **(extra or {})}))
        dag = DagBag(dag_folder=EXAMPLE_DAGS / f"{dag_id}.py").get_dag(dag_id)
        if logical_date is None:
            return dag.test(logical_date=None, run_after=run_after, run_conf=conf)
        return dag.test(logical_date=logical_date, run_conf=conf)

    return run
