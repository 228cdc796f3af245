"""DAGs of the "what users would do instead" benchmark, copied into a temporary DAGs folder.

Reads ``quo_bench_spec.json`` beside itself: ``{"cases": {"<case>": ["CN…", ...]}}``, and defines for
each case three DAGs that mark the same ids read:

- ``bench_http_<case>``: ``HttpOperator.partial(...).expand(endpoint=[...])``, one mapped task per id;
- ``bench_loop_<case>``: one ``@task`` with a serial loop over a ``requests.Session``;
- ``bench_quo_<case>``: this provider's ``MarkConversationReadOperator``;

and ``bench_noop``, one task doing nothing (the fixed cost of ``dag.test()``).

The ``quo_default`` (type ``quo``) and ``quo_http`` (type ``http``, ``Authorization`` header in its
extra) connections come from the environment.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG, BaseHook, task

from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

SPEC_FILE = Path(__file__).with_name("quo_bench_spec.json")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

DAGS: dict[str, DAG] = {}


@task
def serial_loop(conversation_ids: list[str]) -> int:
    """What a user writes without this provider: one request after another, failing on any error."""
    import requests

    connection = BaseHook.get_connection("quo_default")
    session = requests.Session()
    session.headers["Authorization"] = connection.password or ""
    for conversation_id in conversation_ids:
        response = session.post(f"{connection.host}/v1/conversations/{conversation_id}/mark-as-read", timeout=30)
        response.raise_for_status()
    return len(conversation_ids)


@task
def noop() -> None:
    """Nothing: its DAG measures what dag.test() itself costs."""


COMMON: dict[str, Any] = {"schedule": None, "start_date": START, "catchup": False}


def _dags(case: str, ids: list[str]) -> dict[str, DAG]:
    common = COMMON
    with DAG(f"bench_http_{case}", **common) as http_dag:
        HttpOperator.partial(task_id="mark", http_conn_id="quo_http", method="POST").expand(
            endpoint=[f"/v1/conversations/{conversation_id}/mark-as-read" for conversation_id in ids]
        )
    with DAG(f"bench_loop_{case}", **common) as loop_dag:
        serial_loop(ids)
    with DAG(f"bench_quo_{case}", **common) as quo_dag:
        MarkConversationReadOperator(task_id="mark", conversation_ids=ids, progress_interval=3600)
    return {dag.dag_id: dag for dag in (http_dag, loop_dag, quo_dag)}


with DAG("bench_noop", **COMMON) as noop_dag:
    noop()
DAGS[noop_dag.dag_id] = noop_dag

if SPEC_FILE.exists():
    for _case, _ids in json.loads(SPEC_FILE.read_text())["cases"].items():
        DAGS.update(_dags(_case, _ids))
    globals().update(DAGS)
