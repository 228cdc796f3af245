"""
### Stale-conversation clean-up for very large workspaces, in mapped batches

For hundreds of thousands of conversations one task would run for hours, and a failure would mean
starting over. Here the stale ids are split into batches and each batch is one mapped task
instance, which can be retried on its own and shows its own progress.

1. `list_stale_conversations` returns the ids idle for `older_than_days`.
2. `make_batches` splits them into lists of `batch_size` ids.
3. `mark_read_batch` is mapped over the batches: one `mark-as-read` task instance per batch.
4. `total` runs once every batch has finished, failed or not, and adds up all their summaries, so
   nothing is lost: every id is counted as marked, not found, failed or not attempted. The totals are
   its return value (XCom `return_value`, stored even when it fails), and it fails if a batch failed.
   Clear just the failed batches (and `total`) to retry them.

Trigger with `dry_run` on to see how the ids would be batched without marking anything.

**Staying under the key's rate limit.** Quo allows 10 requests per second per API key, shared by
everything that uses the key. The provider shares that budget by itself: every batch (and every
other task using the key) on this host takes its requests from one budget, and with the connection
extra `rate_limit_url` (a Redis URL) so do batches on other workers. The pool `quo_api` (2 slots)
only bounds how many batches run at once, and each batch is capped at 10 / 2 = 5 requests per second
so that another DAG using the key still gets its share. Create the pool once:

    airflow pools set quo_api 2 "Quo API key budget"

If Quo grants your key a higher limit, raise the connection's `requests_per_second` extra and
`KEY_REQUESTS_PER_SECOND`; to run more batches at once, raise the pool's slots and `QUO_POOL_SLOTS`
together. Needs a `quo_default` connection (type `quo`). See docs/scaling.md.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_quo.operators._summary import total_of_batches
from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

log = logging.getLogger(__name__)

#: The API key's rate limit (requests per second): the connection's budget, shared by every task using the key.
KEY_REQUESTS_PER_SECOND = 10
#: The pool every batch runs in, and its slots: how many batches may run at the same time.
QUO_POOL = "quo_api"
QUO_POOL_SLOTS = 2
#: Airflow's `[core] max_map_length` default: the most mapped task instances one task may have.
MAX_MAP_LENGTH = 1024

with DAG(
    dag_id="example_quo_bulk_mapped",
    schedule=None,  # run by hand to clear a backlog; give it a schedule to keep up
    # Paused when Airflow first sees it, like every example here: nothing runs until you unpause it.
    is_paused_upon_creation=True,
    render_template_as_native_obj=True,
    params={
        "older_than_days": Param(30, type="integer", minimum=1, description="Idle for at least this many days."),
        # 500 ids take about 100 s at 5 requests/s; up to 1,024 batches cover 512,000 ids.
        "batch_size": Param(500, type="integer", minimum=1, maximum=5000, description="Ids per mapped task."),
        "dry_run": Param(False, type="boolean", description="Log what each batch would mark; send nothing."),
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
    # (none at all if nothing is stale: the mapped task is then skipped and `total` reports zeros).
    mark_read_batch = MarkConversationReadOperator.partial(
        task_id="mark_read_batch",
        pool=QUO_POOL,
        requests_per_second=KEY_REQUESTS_PER_SECOND / QUO_POOL_SLOTS,  # a cap: leaves the key room for other DAGs
        include_marked_ids=False,  # keep each summary small: counts, not-found and failed ids only
        dry_run="{{ params.dry_run }}",  # rendered per batch; a native bool (render_template_as_native_obj)
    ).expand(conversation_ids=batches)

    @task(trigger_rule="all_done")  # run even when batches failed: their outcomes must not be lost
    def total(batches: list[list[str]] | None, **context: Any) -> dict[str, Any]:
        """Add up every batch's summary (a batch that pushed none counts its ids failed); fail if a batch failed."""
        if batches is None:  # all_done runs `total` even when listing or batching failed: fail clearly
            raise RuntimeError("no batches to total: list_stale_conversations or make_batches failed")
        ti = context["ti"]
        # Each batch's summary is its return value, stored whether it succeeded or failed. Explicit map
        # indexes give one per batch, in batch order (None where a batch stored none).
        indexes = list(range(len(batches)))
        summaries = ti.xcom_pull(task_ids="mark_read_batch", map_indexes=indexes)
        totals = total_of_batches(summaries, batches, task_id="mark_read_batch")
        log.info("Totals (the ids are in the return value): %s", {k: v for k, v in totals.items() if "count" in k})
        if totals["failed_batches"]:  # fail `total` too, or the run would show as a success
            ti.xcom_push(key="return_value", value=totals)  # like a marking task: stored where a success's goes
            raise RuntimeError(f"batch(es) {totals['failed_batches']} failed; the totals are its return value")
        return totals

    mark_read_batch >> total(batches)
