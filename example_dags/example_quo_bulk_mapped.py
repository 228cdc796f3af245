"""
### Stale-conversation clean-up for very large workspaces, in mapped batches

For hundreds of thousands of conversations one task would run for hours, and a failure would mean
starting over. Here the stale ids are split into batches and each batch is one mapped task
instance, which can be retried on its own and shows its own progress.

1. `list_stale_conversations` returns the ids idle for `older_than_days`.
2. `make_batches` splits them into lists of `batch_size` ids.
3. `mark_read_batch` is mapped over the batches: one `mark-as-read` task instance per batch.
4. `total` adds up the batch summaries.

**Staying under the key's rate limit.** Quo allows 10 requests per second per API key, shared by
everything that uses the key. Every batch runs in the pool `quo_api`, which has 2 slots, so at most
2 batches run at once anywhere in this Airflow, and each is throttled to 10 / 2 = 5 requests per
second: together they never go above 10. (The throttle lives in each task's process, so it cannot
see the other batches: the pool is what bounds them.) Create the pool once:

    airflow pools set quo_api 2 "Quo API key budget"

Other tasks that use the same key take from the same 10 requests/s: run them at other times or in
this pool too. If Quo grants your key a higher limit, raise `KEY_REQUESTS_PER_SECOND`; to run more
batches at once, raise the pool's slots and `QUO_POOL_SLOTS` together. Needs a `quo_default`
connection (type `quo`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

#: The API key's rate limit (requests per second), shared by every task that uses the key.
KEY_REQUESTS_PER_SECOND = 10
#: The pool every batch runs in, and its slots: how many batches may run at the same time.
QUO_POOL = "quo_api"
QUO_POOL_SLOTS = 2
#: Airflow's `[core] max_map_length` default: the most mapped task instances one task may have.
MAX_MAP_LENGTH = 1024

with DAG(
    dag_id="example_quo_bulk_mapped",
    schedule=None,  # run by hand to clear a backlog; give it a schedule to keep up
    render_template_as_native_obj=True,
    params={
        "older_than_days": Param(30, type="integer", minimum=1, description="Idle for at least this many days."),
        # 500 ids take about 100 s at 5 requests/s; up to 1,024 batches cover 512,000 ids.
        "batch_size": Param(500, type="integer", minimum=1, maximum=5000, description="Ids per mapped task."),
    },
    tags=["quo"],
    doc_md=__doc__,
) as dag:
    list_stale = ListStaleConversationsOperator(
        task_id="list_stale_conversations",
        older_than="{{ params.older_than_days }}",
    )

    @task
    def make_batches(conversation_ids: list[str], batch_size: int) -> list[list[str]]:
        """Split the ids into lists of ``batch_size``; refuse to create more than ``MAX_MAP_LENGTH`` batches."""
        batches = [conversation_ids[i : i + batch_size] for i in range(0, len(conversation_ids), batch_size)]
        if len(batches) > MAX_MAP_LENGTH:
            raise ValueError(
                f"{len(conversation_ids)} ids in batches of {batch_size} make {len(batches)} mapped tasks, "
                f"more than max_map_length ({MAX_MAP_LENGTH}): raise batch_size"
            )
        return batches

    batches = make_batches(list_stale.output, batch_size="{{ params.batch_size }}")

    # `partial` holds what every batch shares; `expand` creates one task instance per batch
    # (none at all if nothing is stale: the mapped task and `total` are then skipped).
    mark_read_batch = MarkConversationReadOperator.partial(
        task_id="mark_read_batch",
        pool=QUO_POOL,
        requests_per_second=KEY_REQUESTS_PER_SECOND / QUO_POOL_SLOTS,
        include_marked_ids=False,  # keep each summary small: counts, not-found and failed ids only
    ).expand(conversation_ids=batches)

    @task
    def total(summaries: list[dict[str, Any]]) -> dict[str, Any]:
        """Add up the batch summaries."""
        counts = ("requested", "marked_count", "not_found_count", "failed_count", "not_attempted_count")
        result: dict[str, Any] = {"batches": 0, **dict.fromkeys(counts, 0), "not_found": [], "failed": {}}
        for summary in summaries:
            result["batches"] += 1
            for key in counts:
                result[key] += summary[key]
            result["not_found"] += summary["not_found"]
            result["failed"].update(summary["failed"])
        return result

    total(mark_read_batch.output)
