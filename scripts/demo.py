"""``make demo``: the stale-cleanup example DAG, end to end in a real local Airflow, against the Quo simulator.

1. Starts a simulated Quo workspace on 127.0.0.1 (200 conversations, Quo's 10 requests/s per key
   enforced, a little latency). Nothing leaves this machine and no API key is needed.
2. Points a throwaway Airflow at it: home ``.airflow-demo/`` (git-ignored), SQLite, DAGs from
   ``example_dags/``, and ``quo_default`` set through ``AIRFLOW_CONN_QUO_DEFAULT``.
3. Migrates the metadata DB and runs ``example_quo_stale_unread_cleanup`` with ``dag.test()``:
   the real scheduler loop, task runner, XComs and templating, in this process.
4. Prints what was marked and checks it against the simulator's state.

Exits 1 if the run failed or the check found a difference. Takes about 30 seconds.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = REPO / ".airflow-demo"
DAG_ID = "example_quo_stale_unread_cleanup"
OLDER_THAN_DAYS = 30

# Airflow reads its settings once, when first imported: they must be in place before that.
AIRFLOW_HOME.mkdir(exist_ok=True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    }
)
os.environ.pop("AIRFLOW_CONN_QUO_DEFAULT", None)

from demo_logs import route_output_to_log  # noqa: E402  (scripts/demo_logs.py)

from airflow_provider_quo.testing import QuoSimulator  # noqa: E402  (standard library only: no airflow import)


def banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def expected_selection(sim: QuoSimulator, run_time: datetime) -> set[str]:
    """The stale ids by the documented rule, computed from the simulator's data: idle since before the
    cutoff, not deleted, not snoozed past the run's time."""
    cutoff = run_time - timedelta(days=OLDER_THAN_DAYS)
    selected = set()
    for conversation_id in sim.conversation_ids():
        conversation = sim.conversation(conversation_id)
        last = parse(conversation["lastActivityAt"]) or parse(conversation["createdAt"])
        snoozed_until = parse(conversation["snoozedUntil"])
        snoozed = snoozed_until is not None and snoozed_until > run_time
        if not conversation["deletedAt"] and last is not None and last < cutoff and not snoozed:
            selected.add(conversation_id)
    return selected


def read_xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """One XCom of the run, read back from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def main() -> int:
    route_output_to_log(AIRFLOW_HOME / "demo.log")
    # A midnight: the daily DAG's data interval then ends exactly at the simulator's "now", so
    # "30 days idle" means the same thing to the DAG and to the check below.
    run_time = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with QuoSimulator(
        api_key="demo-key", conversations=200, phone_numbers=3, seed=42, now=run_time, rate_limit=10, latency=0.02
    ) as sim:
        banner(f"Quo simulator on {sim.base_url}: 200 conversations, 10 requests/s per key, 20 ms latency")
        # The connection's default throttle is Quo's documented 10 requests/s.
        os.environ["AIRFLOW_CONN_QUO_DEFAULT"] = sim.connection_json()

        banner(f"Airflow home {AIRFLOW_HOME.relative_to(REPO)}/ (SQLite): migrating the metadata DB")
        try:
            from airflow.dag_processing.dagbag import DagBag
        except ImportError:  # Airflow 3.1
            from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
        from airflow.utils import db

        db.initdb()
        bag = DagBag(dag_folder=REPO / "example_dags" / f"{DAG_ID}.py")
        if bag.import_errors:
            print(bag.import_errors, file=sys.stderr)
            return 1
        dag = bag.get_dag(DAG_ID)

        banner(f"dag.test() of {DAG_ID}, logical date {run_time:%Y-%m-%d}, older_than_days={OLDER_THAN_DAYS}")
        started = time.monotonic()
        dag_run = dag.test(logical_date=run_time, run_conf={"older_than_days": OLDER_THAN_DAYS})
        elapsed = time.monotonic() - started

        banner(f"Run {dag_run.run_id}: {dag_run.state} in {elapsed:.1f} s")
        selection = read_xcom(dag_run, "list_stale_conversations", "summary")
        summary = read_xcom(dag_run, "mark_read")
        if dag_run.state != "success" or not selection or not summary:
            print("The run failed: see the task logs above.", file=sys.stderr)
            return 1
        skipped = [f"{key.removeprefix('skipped_')} {n}" for key, n in selection.items() if key.startswith("skipped_")]
        print(f"Scanned {selection['scanned']} conversations created before the cutoff {selection['cutoff']}:")
        print(f"  {selection['selected']} idle since before it; skipped: {', '.join(skipped) or 'none'}")
        marked = summary["marked"]
        print(
            f"Marked {summary['marked_count']} as read in {summary['elapsed_seconds']:.1f} s "
            f"({summary['not_found_count']} not found, {summary['failed_count']} failed), e.g.:"
        )
        for conversation_id in marked[:5]:
            conversation = sim.conversation(conversation_id)
            print(f"  {conversation_id}  last activity {conversation['lastActivityAt']}")
        print("Summary (XCom return_value of mark_read):")
        print("  " + repr({k: v for k, v in summary.items() if k != "marked"} | {"marked": f"<{len(marked)} ids>"}))

        banner("Check against the simulator")
        expected = expected_selection(sim, run_time)
        posts = [r for r in sim.requests if r.method == "POST"]
        throttled = sim.request_count(status=429)
        checks = {
            "every stale, live, unsnoozed conversation was selected and marked": set(marked) == expected,
            "the simulator has exactly those conversations read": sim.read_ids() == expected,
            "one mark-as-read call per id, all answered 200": len(posts) == len(expected)
            and all(r.status == 200 and r.path.endswith("/mark-as-read") for r in posts),
            "no deleted or snoozed conversation was touched": not sim.read_ids()
            & (set(sim.conversation_ids(deleted=True)) | set(sim.conversation_ids(snoozed=True))),
        }
        for label, passed in checks.items():
            print(f"  [{'ok' if passed else 'FAILED'}] {label}")
        note = "the client throttle kept under 10/s" if not throttled else "retried after backing off"
        print(f"  {len(sim.requests)} API requests in all, {throttled} answered 429 ({note})")
        if not all(checks.values()):
            return 1
        print(f"\nDemo passed: {len(expected)} stale conversations marked read. Airflow home: {AIRFLOW_HOME}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
