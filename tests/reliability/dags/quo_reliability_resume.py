"""Reliability suite DAG: the stale-cleanup chain whose marking task dies halfway through its first try.

``mark_read`` is a :class:`MarkConversationReadOperator` whose first try dies, as a killed worker does,
once ``KILL_AFTER`` ids have settled: it raises from the outcome loop and writes no further checkpoint
(a SIGKILL leaves no time for one), and the outcomes of the calls then in flight are lost. Airflow
retries it at once (``retries=1``, ``retry_delay`` 0); the retry resumes from the checkpoint.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

#: Settled ids after which the first try dies.
KILL_AFTER = 150


class WorkerKilled(RuntimeError):
    """Stands for the SIGKILL of the worker."""


class DiesOnceMarkRead(MarkConversationReadOperator):
    """Dies in its first try after :data:`KILL_AFTER` settled ids; a later try runs normally."""

    def _resume(self, context: Any, ids: list[str], summary: Any) -> list[str]:
        to_send = super()._resume(context, ids, summary)
        points = self._checkpoint
        if context["ti"].try_number == 1 and points is not None:
            settled, seen = points.settled, []

            def settled_then_die(conversation_id: str, result: Any) -> None:
                settled(conversation_id, result)
                seen.append(conversation_id)
                if len(seen) == KILL_AFTER:
                    points.save = lambda: None  # type: ignore[method-assign]  # the process is gone
                    raise WorkerKilled(f"killed after {KILL_AFTER} settled ids")

            points.settled = settled_then_die  # type: ignore[method-assign]
        return to_send


with DAG(
    dag_id="quo_reliability_resume",
    schedule=None,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["quo", "test"],
) as dag:
    list_stale = ListStaleConversationsOperator(
        task_id="list_stale_conversations", older_than=30, marked_by="mark_read"
    )
    DiesOnceMarkRead(
        task_id="mark_read",
        conversation_ids=list_stale.output,
        max_workers=4,
        retries=1,
        retry_delay=timedelta(0),
    )
