"""DAGs of the incremental cleanup scenario of tests/integration/test_real_scheduler.py, run by a real scheduler.

``quo_cleanup_triggered`` is the incremental stale cleanup on ``quo_triggered``, run only when
triggered (``schedule=None``); ``quo_cleanup_on_activity`` is the same cleanup on ``quo_asset``, run on
each event of the asset ``quo://activity``, which ``quo_activity_producer`` emits. The idle age is
seconds, not days, so that a test can watch conversations become stale between two runs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

OLDER_THAN = "PT30S"
ACTIVITY = Asset("quo://activity")


def cleanup(dag_id: str, schedule: Any, quo_conn_id: str) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_runs=1,
        tags=["quo", "test"],
    ) as dag:
        list_stale = ListStaleConversationsOperator(
            task_id="list_stale_conversations", older_than=OLDER_THAN, marked_by="mark_read", quo_conn_id=quo_conn_id
        )
        MarkConversationReadOperator(task_id="mark_read", conversation_ids=list_stale.output, quo_conn_id=quo_conn_id)
    return dag


triggered = cleanup("quo_cleanup_triggered", None, "quo_triggered")
on_activity = cleanup("quo_cleanup_on_activity", [ACTIVITY], "quo_asset")

with DAG(
    dag_id="quo_activity_producer",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["quo", "test"],
) as producer:

    @task(outlets=[ACTIVITY])
    def report_activity() -> None:
        """Say the workspace had activity: an event of ``quo://activity``."""

    report_activity()
