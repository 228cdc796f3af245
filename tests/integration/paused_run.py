"""One ``dag.test()`` run of the stale cleanup DAG, in its own process, paused between listing and marking.

``python -m tests.integration.paused_run <logical date> <gate dir>``: the run's marking task writes
``<gate dir>/listed`` when it starts, then waits for ``<gate dir>/go`` before it marks. Another process
meanwhile runs other cleanup runs on the same metadata DB: two runs at once, really. The environment
(``AIRFLOW_HOME``, the metadata DB, ``AIRFLOW_CONN_QUO_DEFAULT``) comes from the parent test.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.integration.dag_runs import EXAMPLE_DAGS

DAG_ID = "example_quo_stale_unread_cleanup"
GATE_TIMEOUT = 120.0


def main(logical_date: str, gate: Path) -> int:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

    original = MarkConversationReadOperator.execute

    def paused(self: Any, context: Any) -> Any:
        (gate / "listed").touch()
        deadline = time.monotonic() + GATE_TIMEOUT
        while not (gate / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never opened the gate")
            time.sleep(0.05)
        return original(self, context)

    MarkConversationReadOperator.execute = paused  # type: ignore[method-assign]
    dag = DagBag(dag_folder=EXAMPLE_DAGS / f"{DAG_ID}.py").get_dag(DAG_ID)
    dag_run = dag.test(logical_date=datetime.fromisoformat(logical_date), run_conf={"older_than_days": 30})
    (gate / "state").write_text(str(dag_run.state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
