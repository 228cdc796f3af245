"""DAG of the retry-policy test (Airflow 3.3): three independent tasks, each with ``QuoRetryPolicy``.

Every task has ``retries=2`` and a two-hour ``retry_delay``, so any retry sooner than that was timed by
the policy. ``wrong_key`` marks through a connection with a wrong key (401), ``rate_limited`` calls the
hook directly and meets a 429 with ``Retry-After``, ``transient`` meets a 503 outage on one id that
outlasts the hook's retries (a ``QuoBulkMarkError``). The ids come from the run conf.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.retry_policy import QuoRetryPolicy

#: The policy's delay for a transient failure without ``Retry-After``.
TRANSIENT_DELAY = timedelta(seconds=90)

with DAG(
    dag_id="quo_retry_policy",
    schedule=None,
    render_template_as_native_obj=True,
    params={"wrong_key_id": Param("CNnone"), "rate_limited_id": Param("CNnone"), "transient_ids": Param([])},
    default_args={
        "retries": 2,
        "retry_delay": timedelta(hours=2),
        "retry_policy": QuoRetryPolicy(transient_delay=TRANSIENT_DELAY),
    },
    tags=["quo", "test"],
) as dag:
    MarkConversationReadOperator(
        task_id="wrong_key", quo_conn_id="quo_wrong_key", conversation_ids="{{ params.wrong_key_id }}"
    )

    @task
    def rate_limited(conversation_id: str) -> dict[str, Any]:
        """Mark one id through the hook: its errors reach Airflow as they are."""
        return QuoHook().mark_conversation(conversation_id)

    rate_limited("{{ params.rate_limited_id }}")

    MarkConversationReadOperator(task_id="transient", conversation_ids="{{ params.transient_ids }}")
