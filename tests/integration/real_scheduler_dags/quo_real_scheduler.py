"""DAGs of tests/integration/test_real_scheduler.py's scenarios, run by a real scheduler (the masked task
logs have theirs in quo_security_task_logs.py). The idle age is seconds, not days, so that a test can watch
conversations go stale between two runs.

- **incremental cleanup without a logical date**: ``quo_cleanup_triggered`` is the incremental stale cleanup
  on ``quo_triggered``, run only when triggered (``schedule=None``); ``quo_cleanup_on_activity`` is the same
  cleanup on ``quo_asset``, run on each event of the asset ``quo://activity``, which
  ``quo_activity_producer`` emits.
- **runs at once**: the cleanup as a user writes it, without the example's ``max_active_runs=1`` (Airflow's
  default lets 16 runs go at once). ``quo_cleanup_concurrent`` (on ``quo_concurrent``) keeps the listing's
  default (one listing at a time across runs); ``quo_cleanup_unserialized`` (on ``quo_unserialized``)
  overrides it (``max_active_tis_per_dag=None``), to measure what a user who does gets. The marking makes one
  attempt per request and the task none again, so a failure is quick.
- **SIGKILL mid-run**: ``quo_kill_resume``'s ``mark_read`` marks the ids of the run's conf at the rate of its
  connection, ``quo_kill``, with one retry at once: the test SIGKILLs its task process mid-run, and the retry
  resumes from the checkpoint.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

OLDER_THAN = "PT30S"
ACTIVITY = Asset("quo://activity")
#: Concurrent requests of the SIGKILL scenario's marking task.
WORKERS = 4


def scenario_dag(dag_id: str, *, schedule: Any = None, **kwargs: Any) -> DAG:
    """A DAG of these scenarios: started by the test (or an asset event), never by the calendar."""
    return DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        tags=["quo", "test"],
        **kwargs,
    )


def cleanup(dag_id: str, quo_conn_id: str, *, schedule: Any = None, dag_args: Any = None, **listing: Any) -> DAG:
    """The incremental stale cleanup on ``quo_conn_id``: list what is stale, mark it read."""
    with scenario_dag(dag_id, schedule=schedule, **(dag_args or {})) as dag:
        list_stale = ListStaleConversationsOperator(
            task_id="list_stale_conversations",
            older_than=OLDER_THAN,
            marked_by="mark_read",
            quo_conn_id=quo_conn_id,
            **listing,
        )
        MarkConversationReadOperator(task_id="mark_read", conversation_ids=list_stale.output, quo_conn_id=quo_conn_id)
    return dag


# The incremental cleanup without a logical date.
triggered = cleanup("quo_cleanup_triggered", "quo_triggered", dag_args={"max_active_runs": 1})
on_activity = cleanup("quo_cleanup_on_activity", "quo_asset", schedule=[ACTIVITY], dag_args={"max_active_runs": 1})

with scenario_dag("quo_activity_producer") as producer:

    @task(outlets=[ACTIVITY])
    def report_activity() -> None:
        """Say the workspace had activity: an event of ``quo://activity``."""

    report_activity()

# Runs at once.
serialized = cleanup("quo_cleanup_concurrent", "quo_concurrent", dag_args={"default_args": {"retries": 0}})
unserialized = cleanup(
    "quo_cleanup_unserialized",
    "quo_unserialized",
    dag_args={"default_args": {"retries": 0}},
    max_active_tis_per_dag=None,
)

# SIGKILL mid-run.
with scenario_dag("quo_kill_resume") as kill_resume:
    MarkConversationReadOperator(
        task_id="mark_read",
        quo_conn_id="quo_kill",
        conversation_ids="{{ dag_run.conf['ids'] }}",  # a Python list repr: the operator reads it
        max_workers=WORKERS,
        retries=1,
        retry_delay=timedelta(0),
    )
