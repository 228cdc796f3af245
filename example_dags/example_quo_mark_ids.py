"""
### Mark given Quo conversations as read (and optionally done)

Triggered by hand or through the REST API; shows the three ways to hand ids to a marking operator.

- **Params**: `conversation_ids` entered in the trigger form are marked read by `mark_read`.
- **Jinja `xcom_pull`**: if `mark_done` is on, `mark_done` pulls the ids `mark_read` actually marked
  (from its summary) and also marks them done, which removes them from the inbox.
- **XComArg**: `conversations_assigned_to` lists the conversations assigned to the user
  `assigned_to` (say a teammate who left) and `mark_assigned_read` takes the returned ids directly.

Trigger with `dry_run` on to see what each task would mark without changing anything. None of
these calls sends a message. Needs a `quo_default` connection (type `quo`).

**Retries**: every task has `retries=2`. On Airflow 3.3 and later each also has `QuoRetryPolicy`: a
429's long `Retry-After` or an outage that outlived the hook's own retries is retried after that delay,
while a rejected key (401) or bad input fails at once without using a retry. On Airflow 3.1 and
3.2 the tasks keep plain `retries`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators.mark_conversation_done import MarkConversationDoneOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.retry_policy import retry_policy_kwargs

with DAG(
    dag_id="example_quo_mark_ids",
    schedule=None,
    # Paused when Airflow first sees it, like every example here: nothing runs until you unpause it.
    is_paused_upon_creation=True,
    # Templates render to Python objects: `{{ params.conversation_ids }}` stays a list.
    render_template_as_native_obj=True,
    params={
        "conversation_ids": Param(
            [], type="array", items={"type": "string", "pattern": "^CN"}, description="Ids to mark read."
        ),
        "mark_done": Param(False, type="boolean", description="Also mark those conversations done."),
        "assigned_to": Param(
            None, type=["null", "string"], description="Also mark read every conversation assigned to this US… user."
        ),
        "dry_run": Param(False, type="boolean", description="Log what would be marked; send nothing."),
    },
    # `retry_policy_kwargs()` is {"retry_policy": QuoRetryPolicy()} on Airflow 3.3+, {} on 3.1 and 3.2.
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), **retry_policy_kwargs()},
    tags=["quo"],
    doc_md=__doc__,
) as dag:
    # 1. Ids from the trigger form.
    mark_read = MarkConversationReadOperator(
        task_id="mark_read",
        conversation_ids="{{ params.conversation_ids }}",
        dry_run="{{ params.dry_run }}",  # every marking task takes it: a dry run changes nothing
    )

    # 2. A Jinja `xcom_pull` string: the summary `mark_read` returned lists the ids it marked (ids Quo
    #    answered 404 for are left out), or in a dry run those it would mark. An empty list makes the
    #    operator do nothing.
    mark_done = MarkConversationDoneOperator(
        task_id="mark_done",
        conversation_ids="{{ ti.xcom_pull(task_ids='mark_read')['would_mark' if params.dry_run else 'marked']"
        " if params.mark_done else [] }}",
        dry_run="{{ params.dry_run }}",
    )
    mark_read >> mark_done

    # 3. An upstream @task's return value, passed as an XComArg.
    @task
    def conversations_assigned_to(user_id: str | None) -> list[str]:
        """Ids of the live conversations assigned to ``user_id`` (none if it is empty)."""
        if not user_id:
            return []
        # `userId` filters on the server (fewer pages to read), but Quo documents it as the conversations
        # the user can *access*, which may be more than those assigned to them: keep the check.
        return [
            conversation["id"]
            for conversation in QuoHook().iter_conversations(user_id=user_id)
            if conversation.get("assignedTo") == user_id and not conversation.get("deletedAt")
        ]

    mark_assigned_read = MarkConversationReadOperator(
        task_id="mark_assigned_read",
        conversation_ids=conversations_assigned_to("{{ params.assigned_to }}"),
        dry_run="{{ params.dry_run }}",
    )
