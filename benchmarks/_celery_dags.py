"""DAGs of the Celery benchmark (:mod:`benchmarks.celery_hosts`), copied into its DAGs folder.

Reads ``quo_celery_spec.json`` beside itself: ``{"batches": [["CN…", ...], ...], "connections":
{"<case>": "<conn id>"}}``, and defines for each case a DAG ``quo_celery_hosts_<case>`` whose one
``MarkConversationReadOperator`` is mapped over the batches (one task instance per batch, all at once).
The connections come from every Airflow process's environment (``AIRFLOW_CONN_<ID>``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

SPEC = json.loads(Path(__file__).with_name("quo_celery_spec.json").read_text())

for case, conn_id in SPEC["connections"].items():
    with DAG(
        dag_id=f"quo_celery_hosts_{case}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_tasks=len(SPEC["batches"]),
    ) as dag:
        MarkConversationReadOperator.partial(task_id="mark_read", quo_conn_id=conn_id).expand(
            conversation_ids=SPEC["batches"]
        )
    globals()[dag.dag_id] = dag
