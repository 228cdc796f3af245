"""``make demo``: the stale-cleanup example DAG, end to end in a real local Airflow, against the Quo simulator.

1. Starts a simulated Quo workspace on 127.0.0.1 (200 conversations, Quo's 10 requests/s per key
   enforced, a little latency). Nothing leaves this machine and no API key is needed.
2. Points a throwaway Airflow at it: home ``.airflow-demo/`` (git-ignored), SQLite, DAGs from
   ``example_dags/``, and ``quo_default`` set through ``AIRFLOW_CONN_QUO_DEFAULT``.
3. Resets the metadata DB and runs ``example_quo_stale_unread_cleanup`` with ``dag.test()`` on two
   consecutive days: the real scheduler loop, task runner, XComs and templating, in this process.
4. Prints what each run marked and why, and checks it against the simulator's state.

Day 1 is the first run, a full sweep. Then the simulator plays a day of activity (messages, new
conversations, snoozes), and day 2's run marks only what became stale since day 1.

Exits 1 if a run failed or a check found a difference. Takes about 40 seconds.
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


def run_day(dag_file: Path, run_time: datetime) -> tuple[Any, dict[str, Any], dict[str, Any]] | None:
    """``dag.test()`` the DAG at ``run_time``; its run, the listing's summary and the marking's summary."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=dag_file)  # parsed afresh per run: dag.test() keeps a run's params on the DAG object
    if bag.import_errors:
        print(bag.import_errors, file=sys.stderr)
        return None
    started = time.monotonic()
    dag_run = bag.get_dag(DAG_ID).test(logical_date=run_time, run_conf={"older_than_days": OLDER_THAN_DAYS})
    banner(f"Run of {run_time:%Y-%m-%d}: {dag_run.state} in {time.monotonic() - started:.1f} s")
    selection = read_xcom(dag_run, "list_stale_conversations", "summary")
    summary = read_xcom(dag_run, "mark_read")
    if dag_run.state != "success" or not selection or not summary:
        print("The run failed: see the task logs.", file=sys.stderr)
        return None
    return dag_run, selection, summary


def report(sim: QuoSimulator, selection: dict[str, Any], summary: dict[str, Any]) -> None:
    """Print what the run selected, why, and what it marked."""
    reasons = {key.removeprefix("selected_"): n for key, n in selection.items() if key.startswith("selected_")}
    skipped = [f"{n} {key.removeprefix('skipped_')}" for key, n in selection.items() if key.startswith("skipped_")]
    print(f"Listed {selection['scanned']} conversations created before the cutoff {selection['cutoff']}:")
    print(f"  selected {selection['selected']} ({', '.join(f'{k} {n}' for k, n in reasons.items() if n)})")
    print(f"  skipped: {', '.join(skipped) or 'none'}")
    print(
        f"Marked {summary['marked_count']} as read in {summary['elapsed_seconds']:.1f} s "
        f"({summary['not_found_count']} not found, {summary['failed_count']} failed), e.g.:"
    )
    for conversation_id in summary["marked"][:3]:
        print(f"  {conversation_id}  last activity {sim.conversation(conversation_id)['lastActivityAt']}")


def check(label: str, checks: dict[str, bool]) -> bool:
    """Print each check; whether all passed."""
    banner(f"Check against the simulator: {label}")
    for text, passed in checks.items():
        print(f"  [{'ok' if passed else 'FAILED'}] {text}")
    return all(checks.values())


def day_one(sim: QuoSimulator, dag_file: Path, day1: datetime) -> tuple[bool, set[str]] | None:
    """Day 1's run, a full sweep, and its checks: whether they passed and the ids expected; ``None`` if it failed."""
    banner(f"Day 1: dag.test() of {DAG_ID}, older_than_days={OLDER_THAN_DAYS}")
    expected = expected_selection(sim, day1)
    first = run_day(dag_file, day1)
    if first is None:
        return None
    report(sim, first[1], first[2])
    posts = [r for r in sim.requests if r.method == "POST"]
    passed = check(
        "day 1",
        {
            "every stale, live, unsnoozed conversation was selected and marked": set(first[2]["marked"]) == expected,
            "one mark-as-read call per id, all answered 200": len(posts) == len(expected)
            and all(r.status == 200 and r.path.endswith("/mark-as-read") for r in posts),
            "nothing stale is left unread": not sim.stale_unread_ids(OLDER_THAN_DAYS, at=day1),
        },
    )
    return passed, expected


def a_day_passes(sim: QuoSimulator, day2: datetime) -> tuple[set[str], int]:
    """Play a day of activity; the ids day 2 must mark, and how many a full re-sweep would select."""
    banner("A day passes in the workspace")
    activity = sim.simulate_activity(day2 - sim.now(), active_fraction=0.03, new_conversations=3, snooze_fraction=0.02)
    print(
        f"  {activity['messages']} messages, {activity['new_conversations']} new conversations, "
        f"{activity['snoozes']} snoozes"
    )
    needed = sim.stale_unread_ids(OLDER_THAN_DAYS, at=day2)
    resweep = len(expected_selection(sim, day2))
    sim.reset_stats()
    return needed, resweep


def day_two(sim: QuoSimulator, dag_file: Path, day2: datetime, needed: set[str], resweep: int) -> bool | None:
    """Day 2's incremental run and its checks: whether they passed; ``None`` if the run failed."""
    banner("Day 2: the same DAG, incremental from day 1's watermark")
    second = run_day(dag_file, day2)
    if second is None:
        return None
    report(sim, second[1], second[2])
    passed = check(
        "day 2",
        {
            f"marked exactly the {len(needed)} conversation(s) that became stale since day 1": set(second[2]["marked"])
            == needed,
            "nothing stale is left unread": not sim.stale_unread_ids(OLDER_THAN_DAYS, at=day2),
        },
    )
    throttled = sim.request_count(status=429)
    print(
        f"  day 2 cost {len(sim.requests)} API requests ({throttled} answered 429); a full re-sweep would "
        f"have sent {resweep} marks on top of its listing"
    )
    return passed


def main() -> int:
    route_output_to_log(AIRFLOW_HOME / "demo.log")
    # Midnights: a daily DAG's data interval then ends exactly at the simulator's clock, so
    # "30 days idle" means the same thing to the DAG and to the checks.
    day2 = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    day1 = day2 - timedelta(days=1)
    dag_file = REPO / "example_dags" / f"{DAG_ID}.py"
    with QuoSimulator(
        api_key="demo-key", conversations=200, phone_numbers=3, seed=42, now=day1, rate_limit=10, latency=0.02
    ) as sim:
        banner(f"Quo simulator on {sim.base_url}: 200 conversations, 10 requests/s per key, 20 ms latency")
        # The connection's default throttle is Quo's documented 10 requests/s.
        os.environ["AIRFLOW_CONN_QUO_DEFAULT"] = sim.connection_json()

        banner(f"Airflow home {AIRFLOW_HOME.relative_to(REPO)}/ (SQLite): a fresh metadata DB, no earlier runs")
        from airflow.utils import db

        db.resetdb()

        first = day_one(sim, dag_file, day1)
        if first is None:
            return 1
        day1_ok, expected = first
        needed, resweep = a_day_passes(sim, day2)
        day2_ok = day_two(sim, dag_file, day2, needed, resweep)
        if day2_ok is None or not (day1_ok and day2_ok):
            return 1
        print(f"\nDemo passed: {len(expected)} marked on day 1, {len(needed)} on day 2. Airflow home: {AIRFLOW_HOME}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
