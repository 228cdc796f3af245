"""DAGs of the runs-at-once scenario of tests/integration/test_real_scheduler.py, run by a real scheduler.

The incremental stale cleanup as a user writes it, without the example's ``max_active_runs=1``:
Airflow's default lets 16 runs go at once. ``quo_cleanup_concurrent`` (on ``quo_concurrent``) keeps the
listing's default (one listing at a time across runs); ``quo_cleanup_unserialized`` (on
``quo_unserialized``) overrides it (``max_active_tis_per_dag=None``), to measure what a user who does
gets. The idle age is seconds, so a test can watch conversations go stale; the marking makes one attempt
per request and the task none again, so a failure is quick.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG

from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator


def cleanup(dag_id: str, quo_conn_id: str, **listing: Any) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        default_args={"retries": 0},
        tags=["quo", "test"],
    ) as dag:
        list_stale = ListStaleConversationsOperator(
            task_id="list_stale_conversations",
            older_than="PT30S",
            marked_by="mark_read",
            quo_conn_id=quo_conn_id,
            **listing,
        )
        MarkConversationReadOperator(task_id="mark_read", conversation_ids=list_stale.output, quo_conn_id=quo_conn_id)
    return dag


serialized = cleanup("quo_cleanup_concurrent", "quo_concurrent")
unserialized = cleanup("quo_cleanup_unserialized", "quo_unserialized", max_active_tis_per_dag=None)
