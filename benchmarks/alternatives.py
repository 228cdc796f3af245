"""4. Against what users would do instead, in the same Airflow (``dag.test()``) and the same simulator.

(a) ``HttpOperator.partial(...).expand(endpoint=[...])`` (apache-airflow-providers-http): one mapped
task per id; (b) one ``@task`` looping serially over a ``requests.Session`` with
``raise_for_status()``; (c) this provider's ``MarkConversationReadOperator``. The DAGs
(``benchmarks/_bench_dags.py``) are copied into a temporary DAGs folder holding only the case being
measured (``dag.test()`` parses the whole folder on every call), on a freshly migrated SQLite
database. Wall time is that of ``dag.test()``, which runs every task in the calling process, one
after the other. A no-op DAG beside each case's DAGs measures what ``dag.test()`` itself costs.

Cases: 200 and 1,000 ids unthrottled with no latency (the provider's throttle raised out of the
way); a smaller set at 250 ms latency with Quo's 10 rps limit (throttle at 10 rps); and the same
limit with no latency, where a fast serial loop runs into the limit.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import REPO, ClientProcess, Context, figure, status_figure
from benchmarks._simproc import SimulatorProcess

TITLE = "Against HttpOperator mapping and a serial requests loop (dag.test)"
DAG_FILE_NAME = "quo_bench_dags.py"
SPEC_FILE_NAME = "quo_bench_spec.json"
VARIANTS = {"http": "(a) HttpOperator mapped", "loop": "(b) serial @task loop", "quo": "(c) this provider"}
UNLIMITED_RPS = 100_000


@dataclass(frozen=True)
class Case:
    name: str
    ids: int
    limit: float | None
    latency: float
    repeats: dict[str, int]
    description: str


FULL = (
    Case("n200", 200, None, 0.0, {"http": 2, "loop": 3, "quo": 3}, "200 ids, no limit, no latency"),
    Case("n1000", 1000, None, 0.0, {"http": 1, "loop": 3, "quo": 3}, "1,000 ids, no limit, no latency"),
    Case("lat250", 60, 10.0, 0.25, {"http": 1, "loop": 2, "quo": 2}, "60 ids, 250 ms latency, 10 rps limit"),
    Case("limit429", 60, 10.0, 0.0, {"http": 1, "loop": 1, "quo": 1}, "60 ids, no latency, 10 rps limit"),
)
QUICK = (
    Case("n200", 20, None, 0.0, {"http": 1, "loop": 1, "quo": 1}, "20 ids, no limit, no latency"),
    Case("lat250", 10, 10.0, 0.25, {"http": 1, "loop": 1, "quo": 1}, "10 ids, 250 ms latency, 10 rps limit"),
    Case("limit429", 30, 10.0, 0.0, {"http": 0, "loop": 1, "quo": 1}, "30 ids, no latency, 10 rps limit"),
)
WARM_CASE = "warm"

# -- in the client child ----------------------------------------------------------------------------


def _dags() -> dict[str, Any]:
    """The DAGs of the DAG file as it is now (the spec changes between cases, so it is re-read)."""
    import importlib.util

    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / DAG_FILE_NAME
    spec = importlib.util.spec_from_file_location("quo_bench_dags", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags: dict[str, Any] = module.DAGS
    return dags


def run_dag(connections: dict[str, str], dag_id: str) -> dict[str, Any]:
    """Run one DAG with ``dag.test()``; return wall seconds, the run's state and its task states."""
    from collections import Counter

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    os.environ.update(connections)
    dag = _dags()[dag_id]
    started = time.perf_counter()
    dag_run = dag.test()
    elapsed = time.perf_counter() - started
    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.state, TaskInstance.start_date, TaskInstance.end_date).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id
            )
        ).all()
    in_tasks = sum((end - start).total_seconds() for _, start, end in rows if start and end)
    return {
        "elapsed": elapsed,
        "in_tasks": in_tasks,
        "state": str(getattr(dag_run.state, "value", dag_run.state)),
        "tasks": dict(Counter(str(getattr(state, "value", state)) for state, _, _ in rows)),
    }


def prepare_airflow(connections: dict[str, str], warm_dag_ids: list[str]) -> float:
    """Migrate a fresh metadata database and run the warm-up DAGs once; return the seconds it took."""
    from airflow.utils import db

    started = time.perf_counter()
    db.resetdb()
    for dag_id in warm_dag_ids:
        run_dag(connections, dag_id)
    return time.perf_counter() - started


# -- in the orchestrating process -------------------------------------------------------------------


@dataclass
class Prepared:
    """The simulator, the DAGs folder and a client process already migrating and warming up."""

    sim: SimulatorProcess
    client: ClientProcess
    cases: tuple[Case, ...]
    warm_up: Any
    connections: dict[str, str] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    dags_folder: Path = Path()

    def close(self) -> None:
        self.client.close()
        self.sim.stop()


def _connections(sim: SimulatorProcess, requests_per_second: float) -> dict[str, str]:
    port = int(sim.base_url.rsplit(":", 1)[1])
    http = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}
    http["extra"] = {"Authorization": sim.api_key}
    return {
        "AIRFLOW_CONN_QUO_DEFAULT": sim.connection_json({"requests_per_second": requests_per_second}),
        "AIRFLOW_CONN_QUO_HTTP": json.dumps(http),
    }


def prepare(context: Context) -> Prepared:
    """Start the simulator, write the DAGs folder and start migrating + warming up in a client process.

    Call early: the slow part (database migration, first ``dag.test()``) then overlaps other work.
    """
    cases = QUICK if context.quick else FULL
    largest = max(case.ids for case in cases)
    sim = SimulatorProcess(conversations=int(largest * 1.1) + 20).start()
    ids = sim.call("conversation_ids", deleted=False)
    dags_folder = Path(context.env["AIRFLOW__CORE__DAGS_FOLDER"])
    _write_spec(dags_folder, WARM_CASE, ids[:3])
    shutil.copyfile(REPO / "benchmarks" / "_bench_dags.py", dags_folder / DAG_FILE_NAME)
    client = ClientProcess(context, "alternatives")
    connections = _connections(sim, UNLIMITED_RPS)
    warm = ["bench_noop", *(f"bench_{variant}_{WARM_CASE}" for variant in VARIANTS)]
    future = client.submit(prepare_airflow, connections, warm)
    return Prepared(
        sim=sim, client=client, cases=cases, warm_up=future, connections=connections, ids=ids, dags_folder=dags_folder
    )


def _write_spec(dags_folder: Path, case: str, ids: list[str]) -> None:
    """Leave only ``case``'s DAGs (and the no-op DAG) in the DAGs folder: dag.test() parses all of it."""
    (dags_folder / SPEC_FILE_NAME).write_text(json.dumps({"cases": {case: ids}}))


def _speedup(slow: list[float], fast: list[float]) -> float:
    return statistics.median(slow) / statistics.median(fast)


def _run_variants(context: Context, prepared: Prepared, case: Case, connections: Any) -> tuple[dict, dict]:
    """Each variant's wall times and last outcome for one case."""
    sim, client = prepared.sim, prepared.client
    walls: dict[str, list[float]] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    for variant, repeats in case.repeats.items():
        for repeat in range(repeats):
            sim.configure(latency=case.latency, rate_limit=case.limit)
            outcome = client.call(run_dag, connections, f"bench_{variant}_{case.name}", timeout=1800)
            outcome["http_200"] = sim.call("request_count", method="POST", status=200)
            outcome["http_429"] = sim.call("request_count", status=429)
            walls.setdefault(variant, []).append(outcome["elapsed"])
            outcomes[variant] = outcome
            context.progress(
                f"  alternatives {case.name} {variant} #{repeat + 1}: {outcome['elapsed']:.2f}s, "
                f"run {outcome['state']}, tasks {outcome['tasks']}, {outcome['http_200']} x 200, "
                f"{outcome['http_429']} x 429, {outcome['in_tasks']:.2f}s in tasks"
            )
    return walls, outcomes


def _wall_figures(case: Case, walls: dict, outcomes: dict, params: dict[str, Any]) -> list[dict[str, Any]]:
    figures = []
    for variant, samples in walls.items():
        outcome = outcomes[variant]
        note = (
            f"run {outcome['state']}; {outcome['http_200']} marked, {outcome['http_429']} x 429; "
            f"{outcome['in_tasks']:.2f} s inside task instances"
        )
        if len(samples) == 1 and variant == "http":
            note += "; one run (slow)"
        figures.append(
            figure(
                f"alternatives.{case.name}.{variant}.wall_s",
                f"{VARIANTS[variant]}: {case.description}",
                samples,
                "s",
                params={**params, "variant": variant},
                note=note,
            )
        )
    return figures


def _limit429_figures(case: Case, outcomes: dict, params: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    figures = []
    loop, quo = outcomes.get("loop"), outcomes.get("quo")
    if loop is not None:
        failed_at_first = loop["state"] == "failed" and loop["http_429"] == 1
        figures.append(
            status_figure(
                "alternatives.limit429.loop_fails_on_first_429",
                "(b) serial loop fails on the first 429",
                failed_at_first,
                f"run {loop['state']} after {loop['http_200']} marks and {loop['http_429']} x 429",
                params=params,
            )
        )
    if quo is not None:
        completed = quo["state"] == "success" and quo["http_200"] >= case.ids
        figures.append(
            status_figure(
                "alternatives.limit429.provider_completes",
                "(c) this provider completes under the same limit",
                completed,
                f"run {quo['state']}, {quo['http_200']} marks, {quo['http_429']} x 429",
                params=params,
            )
        )
    if "http" in outcomes:
        http = outcomes["http"]
        failed = http["tasks"].get("failed", 0)
        notes.append(
            f"At the 10 rps limit with no latency, (a)'s {case.ids} mapped tasks ran one after another "
            f"at {case.ids / http['elapsed']:.1f} tasks/s: {http['http_429']} requests were answered 429 "
            f"and {failed} tasks failed (HttpOperator does not retry by default)."
        )
    return figures


def _speedup_figures(case: Case, walls: dict, params: dict[str, Any]) -> list[dict[str, Any]]:
    figures = []
    if "quo" in walls and "http" in walls:
        figures.append(
            figure(
                f"alternatives.{case.name}.speedup_vs_http",
                f"speed-up of (c) over (a), dag.test() wall time: {case.description}",
                [_speedup(walls["http"], walls["quo"])],
                "x",
                target=(">=", 50.0) if case.limit is None else None,
                params=params,
            )
        )
    if "quo" in walls and "loop" in walls:
        figures.append(
            figure(
                f"alternatives.{case.name}.speedup_vs_loop",
                f"speed-up of (c) over (b), dag.test() wall time: {case.description}",
                [_speedup(walls["loop"], walls["quo"])],
                "x",
                target=(">=", 2.0) if case.latency > 0 else None,
                params=params,
            )
        )
    return figures


def run(context: Context, prepared: Prepared | None = None) -> dict[str, Any]:
    prepared = prepared or prepare(context)
    figures: list[dict[str, Any]] = []
    notes: list[str] = []
    try:
        warm_seconds = prepared.warm_up.result(timeout=900)
        context.progress(f"  alternatives: database migrated and dag.test() warmed up in {warm_seconds:.1f}s")
        sim, client = prepared.sim, prepared.client
        noop_all: list[float] = []
        for case in prepared.cases:
            connections = _connections(sim, case.limit or UNLIMITED_RPS)
            _write_spec(prepared.dags_folder, case.name, prepared.ids[: case.ids])
            client.call(run_dag, connections, "bench_noop")  # writes this case's DAGs to the database
            noop_all += [client.call(run_dag, connections, "bench_noop")["elapsed"] for _ in range(2)]
            walls, outcomes = _run_variants(context, prepared, case, connections)
            params = {"ids": case.ids, "limit_rps": case.limit, "latency_s": case.latency}
            figures += _wall_figures(case, walls, outcomes, params)
            if case.name == "limit429":
                figures += _limit429_figures(case, outcomes, params, notes)
            else:
                figures += _speedup_figures(case, walls, params)
        figures.insert(
            0,
            figure(
                "alternatives.dag_test_noop.wall_s",
                "dag.test() of a one-task no-op DAG beside each case's DAGs (fixed cost in every figure below)",
                noop_all,
                "s",
            ),
        )
    finally:
        prepared.close()
    notes += [
        "dag.test() runs every task in one process without a worker, so (a)'s per-task cost here is a lower "
        "bound: a real deployment also pays a worker process (or pod) per mapped task.",
        "Speed-ups are ratios of medians. (a) runs twice at 200 ids and once in the other cases "
        "(1,000 mapped tasks take over a minute), so its spread is not known there.",
    ]
    return {
        "id": "alternatives",
        "title": TITLE,
        "command": "make bench  # or: .venv/bin/python -m benchmarks --only alternatives",
        "figures": figures,
        "notes": notes,
    }
