"""
### Daily, incremental clean-up of stale unread Quo conversations

Quo has no unread flag to query, so "stale unread" means *idle*: a conversation whose last activity
is older than `older_than_days` (measured from the run's data interval end) is marked as read.
Deleted and currently snoozed conversations are left alone.

The clean-up is **incremental**: each run marks only the conversations that became stale since the
last run whose marking fully succeeded (their idle age crossed `older_than_days`, or a snooze on an
idle conversation ended). So a daily run costs what the day's activity costs, not the workspace's
whole history. The first run, and any run triggered with `full_sweep`, marks everything stale.

1. `list_stale_conversations` lists `GET /v1/conversations` and returns the ids in its window.
2. `mark_read` posts `mark-as-read` for each id at the connection's rate (10 requests/s per key by
   default). Its success commits the window: the next run starts where this one ended. A failed,
   partly failed or dry run commits nothing, so the next run covers its window again.

The watermark lives in the Airflow Variable
`quo_watermark__example_quo_stale_unread_cleanup__list_stale_conversations` (Admin > Variables);
delete it to make the next run a full sweep. Runs triggered without a logical date, dry runs and
re-runs all keep the chain.

A conversation someone marked *unread by hand* in the Quo app, without new activity, is picked up
only by a full sweep: trigger one now and then (see `docs/stale-cleanup.md` for a weekly pattern).

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
    # Paused when Airflow first sees it: unpausing starts the latest interval's run at once (catchup=False
    # still runs it), and with a real key that run marks the idle inbox read.
    is_paused_upon_creation=True,
    # One run at a time keeps each run's marks to its own day. Correctness does not depend on it: the
    # listing runs one instance at a time across runs (its default max_active_tis_per_dag=1), so runs at
    # once never mark a conversation twice and leave none.
    max_active_runs=1,
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
        "limit": Param(
            None, type=["null", "integer"], minimum=1, description="Mark at most this many; the rest next run."
        ),
        "full_sweep": Param(
            False, type="boolean", description="Mark every stale conversation, not only those new since the last run."
        ),
    },
    tags=["quo"],
    doc_md=__doc__,
) as dag:
    list_stale = ListStaleConversationsOperator(
        task_id="list_stale_conversations",
        older_than="{{ params.older_than_days }}",
        phone_numbers="{{ params.phone_numbers }}",
        limit="{{ params.limit }}",
        full_sweep="{{ params.full_sweep }}",
        # The task whose success commits this run's window (and so makes the listing incremental).
        marked_by="mark_read",
    )

    # `list_stale.output` is the list of ids the listing task returned (its XCom), and also makes
    # `list_stale` upstream of `mark_read`.
    mark_read = MarkConversationReadOperator(
        task_id="mark_read",
        conversation_ids=list_stale.output,
        dry_run="{{ params.dry_run }}",
    )
