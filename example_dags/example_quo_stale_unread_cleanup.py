"""
### Daily clean-up of stale unread Quo conversations

Quo has no unread flag to query, so "stale unread" means *idle*: every conversation whose last
activity is older than `older_than_days` (measured from the run's data interval end, so a re-run
selects the same set) is marked as read. Deleted and currently snoozed conversations are left alone.

1. `list_stale_conversations` pages through `GET /v1/conversations` and returns the stale ids.
2. `mark_read` posts `mark-as-read` for each id at the connection's rate (10 requests/s per key by
   default) and returns a summary: counts, marked ids, not-found ids, failures.

Trigger with `dry_run` on to see what would be marked without changing anything.

Needs a `quo_default` connection (type `quo`, the API key in the password field).
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG, Param

from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

with DAG(
    dag_id="example_quo_stale_unread_cleanup",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    # Templates render to Python objects (a list stays a list, False stays False), not strings.
    render_template_as_native_obj=True,
    params={
        "older_than_days": Param(30, type="integer", minimum=1, description="Idle for at least this many days."),
        "phone_numbers": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Only these lines (E.164 numbers or PN… ids); empty means every line.",
        ),
        "dry_run": Param(False, type="boolean", description="Log what would be marked; send nothing."),
        "limit": Param(None, type=["null", "integer"], minimum=1, description="Mark at most this many."),
    },
    tags=["quo"],
    doc_md=__doc__,
) as dag:
    list_stale = ListStaleConversationsOperator(
        task_id="list_stale_conversations",
        older_than="{{ params.older_than_days }}",
        phone_numbers="{{ params.phone_numbers }}",
        limit="{{ params.limit }}",
    )

    # `list_stale.output` is the list of ids the listing task returned (its XCom), and also makes
    # `list_stale` upstream of `mark_read`.
    mark_read = MarkConversationReadOperator(
        task_id="mark_read",
        conversation_ids=list_stale.output,
        dry_run="{{ params.dry_run }}",
    )
