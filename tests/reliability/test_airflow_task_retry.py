"""Airflow's task retry finishes a partial run: a real ``dag.test()`` whose first try fails.

The first try meets a transient outage on five ids that outlasts the client's retries (3 attempts
each, all 503), so those ids fail and ``fail_on_error`` fails the try. Airflow retries the task
(``retries=1``, ``retry_delay`` 0). On Airflow 3.3 the second try resumes from the first try's
checkpoint (``task_state_store``) and sends only the five failed ids, whose 503s were retryable; on
3.1/3.2 it sends every id again, which is harmless because mark-as-read is idempotent. Both succeed.
``dag.test()`` does run task retries in Airflow 3.3 (its loop reschedules an ``up_for_retry`` task
instance whose delay has passed), so no emulation is needed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_quo.testing import QuoSimulator

try:
    from airflow.sdk.execution_time.context import TaskStateStoreAccessor  # noqa: F401
except ImportError:  # Airflow 3.1 and 3.2: a retry sends every id again
    RESUMES = False
else:
    RESUMES = True

pytestmark = pytest.mark.integration

DAGS = Path(__file__).resolve().parent / "dags"
DAG_ID = "quo_reliability_task_retry"
IDS = 200
OUTAGE_IDS = 5
CLIENT_ATTEMPTS = 3


def xcom(dag_run: Any, task_id: str, key: str) -> list[Any]:
    """The XCom values of ``task_id`` in ``dag_run`` under ``key``, read back from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
        ).all()
        return [XComModel.deserialize_value(row) for row in rows]


def test_task_retry_after_a_partial_run_marks_every_id(
    airflow_db: None, monkeypatch: pytest.MonkeyPatch, dagbag_class: type
) -> None:
    from airflow import settings

    DagBag = dagbag_class

    # dag.test() only runs a DAG it finds in a bundle: make this suite's folder the DAGs folder
    # (the local bundle reads settings.DAGS_FOLDER, which Airflow set from the config at import).
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(DAGS))
    with QuoSimulator(api_key="retry-key-7e21", conversations=IDS + 40, seed=9) as sim:
        ids = sim.conversation_ids(deleted=False)[:IDS]
        outage = ids[10 : 10 + OUTAGE_IDS]
        for cid in outage:
            sim.fail_next(CLIENT_ATTEMPTS, "503", path_contains=cid)
        monkeypatch.setenv(
            "AIRFLOW_CONN_QUO_DEFAULT",
            sim.connection_json({"requests_per_second": 100_000, "retry_limit": CLIENT_ATTEMPTS}),
        )
        dag = DagBag(dag_folder=DAGS / f"{DAG_ID}.py").get_dag(DAG_ID)

        dag_run = dag.test(run_conf={"conversation_ids": ids})

        assert dag_run.state == "success"
        (ti,) = dag_run.get_task_instances()
        assert (ti.task_id, ti.state, ti.try_number) == ("mark_read", "success", 2)

        # The server's side: every id read; the outage ids got 3 failed attempts then one mark. The others
        # were marked once by try 1; without a checkpoint to resume from, try 2 marked them again.
        assert sim.read_ids() == set(ids)
        again = 0 if RESUMES else 1
        calls = Counter(sim.state(cid)["mark_calls"] for cid in ids)
        assert calls == (Counter({1: IDS}) if RESUMES else Counter({2: IDS - OUTAGE_IDS, 1: OUTAGE_IDS}))
        assert all(sim.state(cid)["mark_calls"] == 1 for cid in outage)
        assert sim.request_count(status=503) == OUTAGE_IDS * CLIENT_ATTEMPTS
        assert len(sim.requests) == (1 + again) * (IDS - OUTAGE_IDS) + OUTAGE_IDS * (CLIENT_ATTEMPTS + 1)

        # The final summary is the task instance's: everything marked, nothing failed.
        (summary,) = xcom(dag_run, "mark_read", "return_value")
        assert summary["requested"] == summary["marked_count"] == IDS
        assert sorted(summary["marked"]) == sorted(ids)
        assert (summary["not_found_count"], summary["failed_count"], summary["not_attempted_count"]) == (0, 0, 0)
        # Stored once: the first try's failure summary was cleared when Airflow started the retry.
        assert xcom(dag_run, "mark_read", "summary") == []
