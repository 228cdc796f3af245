"""DAG of the SIGKILL scenario of tests/integration/test_real_scheduler.py, run by a real scheduler.

``mark_read`` marks the ids of the run's conf at the rate of its connection, ``quo_kill``, with one
retry at once: the test SIGKILLs its task process mid-run, and the retry resumes from the checkpoint.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG

from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

#: Concurrent requests of the marking task.
WORKERS = 4

with DAG(
    dag_id="quo_kill_resume",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["quo", "test"],
) as dag:
    MarkConversationReadOperator(
        task_id="mark_read",
        quo_conn_id="quo_kill",
        conversation_ids="{{ dag_run.conf['ids'] }}",  # a Python list repr: the operator reads it
        max_workers=WORKERS,
        retries=1,
        retry_delay=timedelta(0),
    )
