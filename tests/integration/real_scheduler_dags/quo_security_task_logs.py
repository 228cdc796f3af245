"""DAG of the task-log masking scenario of tests/integration/test_real_scheduler.py, run by a real scheduler
(the security suite's real-deployment proof): it would leak the API key into the task log if masking failed.

Both tasks use the default connection, ``quo_default`` (the scenario's alone).
``log_authorization_header`` logs the exact ``Authorization`` header the hook sends (the raw key) at
INFO, and prints it to stdout; Airflow's secret masker, which the hook registers the key with, must
turn both into ``***``. ``mark_read`` then marks the ids of the run conf and logs its summary line.
"""

from __future__ import annotations

import logging

from airflow.sdk import DAG, Param, task

from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

log = logging.getLogger(__name__)

with DAG(
    dag_id="quo_security_task_logs",
    schedule=None,
    render_template_as_native_obj=True,
    params={"conversation_ids": Param([], type="array")},
    tags=["quo", "test"],
) as dag:

    @task
    def log_authorization_header() -> int:
        """Log what the hook sends as its Authorization header: the key itself, were it not masked."""
        hook = QuoHook()
        header = hook.session.headers["Authorization"]
        log.info("Authorization header the hook sends: %s", header)
        print(f"stdout: Authorization header the hook sends: {header}")
        return len(header)

    mark_read = MarkConversationReadOperator(task_id="mark_read", conversation_ids="{{ params.conversation_ids }}")

    log_authorization_header() >> mark_read
