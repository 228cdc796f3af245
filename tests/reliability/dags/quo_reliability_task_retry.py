"""Reliability suite DAG: one marking task with one Airflow retry, for the retry-after-partial-run test.

The ids come from the run conf (``params.conversation_ids``); the task fails its try if any id fails
(``fail_on_error``) and is retried at once (``retry_delay`` 0).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param

from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

with DAG(
    dag_id="quo_reliability_task_retry",
    schedule=None,
    render_template_as_native_obj=True,
    params={"conversation_ids": Param([], type="array")},
    tags=["quo", "test"],
) as dag:
    MarkConversationReadOperator(
        task_id="mark_read",
        conversation_ids="{{ params.conversation_ids }}",
        fail_on_error=True,
        retries=1,
        retry_delay=timedelta(0),
    )
