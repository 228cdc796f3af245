"""9 (opt-in). The key's budget across two hosts under a real CeleryExecutor, with and without ``rate_limit_url``.

Not in ``make bench``: ``make bench-celery`` runs it in its own venv (``.venv-celery``: the same Airflow
plus the Celery provider), as ``python -m benchmarks --only celery_hosts``. It starts:

- a throwaway PostgreSQL cluster (the metadata DB and Celery's result backend) and a ``redis-server``
  (the broker, db 0; the shared budget, db 1), both on free 127.0.0.1 ports;
- the Quo simulator (own process): a strict fixed one-second window of 10 requests per key, stated in
  its ``RateLimit`` header fields, 60 ms latency;
- Airflow with the ``CeleryExecutor``: api-server (the workers' execution API), scheduler,
  dag-processor (:mod:`tests.standalone_airflow`), and two ``airflow celery worker`` processes of
  concurrency 2 acting as two hosts: each its own ``--celery-hostname`` and ``QUO_THROTTLE_DIR`` (the
  host budget's state), as on two machines.

One DAG per case maps ``MarkConversationReadOperator`` over 4 batches of 75 ids
(:mod:`benchmarks._celery_dags`): ``local`` (a connection without ``rate_limit_url``: each host keeps
its own budget and sees the other only in the server's ``RateLimit`` fields) and ``redis`` (with it).
Efficiency = requests the server accepted per second over the busy span / 10, the busy span running
from the first request's arrival to one slot (0.1 s) after the last's; 429s counted at the simulator.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import types
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks._common import REPO, Context, figure
from benchmarks._redisproc import RedisServer
from benchmarks._simproc import SimulatorProcess

TITLE = "The key's budget across two hosts under a real CeleryExecutor (opt-in: make bench-celery)"
LIMIT = 10.0
LATENCY = 0.06
HOSTS = ("host-a", "host-b")
CASES = {"local": "quo_local", "redis": "quo_redis"}
WORKER_READY_TIMEOUT = 120
RUN_TIMEOUT = 300
#: The variable naming the host a worker plays (see :func:`worker_hostname`).
HOST_ENV = "QUO_BENCH_HOST"
#: Packages whose versions the result notes (beside the suite's usual ones).
CELERY_PACKAGES = ("apache-airflow-providers-celery", "celery", "kombu")


@dataclass(frozen=True)
class Plan:
    tasks: int
    ids_per_task: int
    repeats: int


FULL = Plan(tasks=4, ids_per_task=75, repeats=5)
QUICK = Plan(tasks=4, ids_per_task=15, repeats=1)


@dataclass
class Setup:
    """What the measurements use: the simulator, the shared-budget Redis and Airflow's REST API."""

    sim: SimulatorProcess
    budget_url: str
    api: Any  # tests.standalone_airflow.RestApi
    workers: list[Any]  # tests.standalone_airflow.Components, one per host


def _celery_env(base: dict[str, str], database_url: str, broker_url: str) -> dict[str, str]:
    """The standalone harness's environment, switched to the CeleryExecutor on PostgreSQL."""
    result_backend = "db+" + database_url  # keeps +psycopg2: SQLAlchemy would pick psycopg (3), not installed
    return {
        **base,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    }


def _write_dags(dags: Path, batches: list[list[str]]) -> None:
    dags.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "benchmarks" / "_celery_dags.py", dags / "quo_celery_dags.py")
    (dags / "quo_celery_spec.json").write_text(json.dumps({"batches": batches, "connections": CASES}))


def worker_hostname() -> str:
    """The host name a worker's tasks report (``[core] hostname_callable``): the host it plays."""
    return os.environ.get(HOST_ENV) or socket.getfqdn()


def _ready(worker: Any, host: str) -> bool:
    return f"{host}@quo-bench ready" in worker.tail(host, 400)


def _start_workers(home: Path, env: dict[str, str], workdir: Path, stack: ExitStack) -> list[Any]:
    """Two ``airflow celery worker`` processes, each a host: own Celery hostname, own host budget."""
    from tests.standalone_airflow import Components

    workers = []
    for host in HOSTS:
        host_env = {
            "QUO_THROTTLE_DIR": str(workdir / "throttle" / host),
            HOST_ENV: host,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
        }
        worker = Components(home, {**env, **host_env})
        stack.callback(worker.stop)
        worker.start(host, "celery", "worker", "--celery-hostname", f"{host}@quo-bench", "--skip-serve-logs")
        workers.append(worker)
    for worker, host in zip(workers, HOSTS, strict=True):
        worker.wait_for(f"celery worker {host}", lambda w=worker, h=host: _ready(w, h), WORKER_READY_TIMEOUT)
    return workers


def _start(context: Context, plan: Plan, stack: ExitStack) -> Setup:
    """Start PostgreSQL, Redis, the simulator and Airflow (four components, two of them workers)."""
    from tests.postgres_server import PostgresServer
    from tests.standalone_airflow import RestApi, airflow_env, free_port, start_airflow

    postgres = PostgresServer().start()
    stack.callback(postgres.stop)
    redis = stack.enter_context(RedisServer())
    sim = stack.enter_context(SimulatorProcess(conversations=plan.tasks * plan.ids_per_task * 2))
    ids = sim.call("conversation_ids", deleted=False)[: plan.tasks * plan.ids_per_task]
    batches = [ids[number :: plan.tasks] for number in range(plan.tasks)]
    home, dags, port = context.workdir / "airflow-home", context.workdir / "celery-dags", free_port()
    home.mkdir(parents=True, exist_ok=True)
    _write_dags(dags, batches)
    budget_url = redis.url[: -len("/0")] + "/1"
    connections = {
        CASES["local"]: sim.connection_json({}),
        CASES["redis"]: sim.connection_json({"rate_limit_url": budget_url}),
    }
    env = _celery_env(airflow_env(home, port, dags, connections), postgres.url, redis.url)
    context.progress("  celery_hosts: migrating the metadata DB, starting Airflow and two workers")
    components = start_airflow(home, env, types.SimpleNamespace(addfinalizer=stack.callback))  # type: ignore[arg-type]
    workers = _start_workers(home, env, context.workdir, stack)
    api = RestApi(port, components)
    for case in CASES:
        api.wait_dag_ready(f"quo_celery_hosts_{case}")
    return Setup(sim=sim, budget_url=budget_url, api=api, workers=workers)


def _task_instances(setup: Setup, dag_id: str, run_id: str) -> dict[str, Any]:
    """How many of the run's task instances each host ran (their ``hostname``), and the seconds between the
    first one's start and the last one's (how far they ran at once)."""
    response = setup.api.http.get(f"{setup.api.base}/dags/{dag_id}/dagRuns/{run_id}/taskInstances", timeout=30)
    response.raise_for_status()
    instances = response.json()["task_instances"]
    starts = [datetime.fromisoformat(ti["start_date"]) for ti in instances if ti.get("start_date")]
    return {
        "hosts": dict(Counter(ti.get("hostname") or "?" for ti in instances)),
        "start_spread": (max(starts) - min(starts)).total_seconds() if starts else None,
    }


def _measure(setup: Setup, case: str) -> dict[str, Any]:
    """One run of the case's DAG against a fresh budget; what the server saw."""
    import redis as redis_client

    redis_client.Redis.from_url(setup.budget_url).flushdb()
    setup.sim.configure(latency=LATENCY, rate_limit=LIMIT)  # a fresh window, requests forgotten
    dag_id = f"quo_celery_hosts_{case}"
    run_id = setup.api.trigger(dag_id)
    run = setup.api.wait_finished(dag_id, run_id, timeout=RUN_TIMEOUT)
    for worker in setup.workers:
        worker.check_alive()
    posts = [r for r in setup.sim.get("requests") if r.method == "POST"]
    accepted = [r for r in posts if r.status == 200]
    first, last = min(r.started for r in posts), max(r.started for r in posts)
    span = last - first + 1 / LIMIT
    return {
        "state": run["state"],
        "posts": len(posts),
        "accepted": len(accepted),
        "marked_ids": len({r.path for r in accepted}),
        "http_429": sum(1 for r in posts if r.status == 429),
        "span": span,
        "efficiency": len(accepted) / span / LIMIT,
        **_task_instances(setup, dag_id, run_id),
    }


def _figures(case: str, runs: list[dict[str, Any]], plan: Plan) -> list[dict[str, Any]]:
    what = "with rate_limit_url" if case == "redis" else "without rate_limit_url"
    params = {
        "case": case,
        "hosts": len(HOSTS),
        "tasks": plan.tasks,
        "ids_per_task": plan.ids_per_task,
        "limit_rps": LIMIT,
        "window": "fixed",
        "latency_s": LATENCY,
    }
    shares = [run_["http_429"] / max(1, run_["posts"]) for run_ in runs]
    note_429 = ", ".join(f"{run_['http_429']} of {run_['posts']}" for run_ in runs)
    return [
        figure(
            f"celery_hosts.{case}.efficiency",
            f"accepted requests/s over the limit (two Celery hosts, {what})",
            [run_["efficiency"] for run_ in runs],
            "ratio",
            params=params,
            note=", ".join(f"{run_['accepted']} in {run_['span']:.1f}s" for run_ in runs),
        ),
        figure(
            f"celery_hosts.{case}.http_429_share",
            f"share of requests answered 429 (two Celery hosts, {what})",
            shares,
            "ratio",
            params=params,
            note=note_429,
        ),
        figure(
            f"celery_hosts.{case}.runs_failed",
            f"runs not successful (two Celery hosts, {what})",
            [float(sum(run_["state"] != "success" for run_ in runs))],
            "count",
            target=("==", 0),
            params=params,
        ),
    ]


def _run_cases(context: Context, plan: Plan, setup: Setup) -> tuple[list[dict[str, Any]], list[str]]:
    """Every repeat of both cases, alternating, so drifting machine load falls on both alike."""
    runs: dict[str, list[dict[str, Any]]] = {case: [] for case in CASES}
    for repeat in range(plan.repeats):
        for case in CASES:
            run_ = _measure(setup, case)
            runs[case].append(run_)
            context.progress(
                f"  celery_hosts {case} #{repeat + 1}: {run_['state']}, {run_['accepted']} accepted in "
                f"{run_['span']:.2f}s (efficiency {run_['efficiency']:.3f}), {run_['http_429']} x 429 of "
                f"{run_['posts']}, tasks per host {run_['hosts']}, started within {run_['start_spread']:.1f}s"
            )
    figures = [fig for case in CASES for fig in _figures(case, runs[case], plan)]
    splits = sorted({json.dumps(sorted(r["hosts"].values())) for case in CASES for r in runs[case]})
    return figures, [f"Task instances per host, across runs: {', '.join(splits)}."]


def run(context: Context) -> dict[str, Any]:
    if importlib.util.find_spec("airflow.providers.celery") is None:
        raise RuntimeError("celery_hosts needs the Celery provider: run `make bench-celery` (it builds .venv-celery)")
    plan = QUICK if context.quick else FULL
    with ExitStack() as stack:
        setup = _start(context, plan, stack)
        figures, notes = _run_cases(context, plan, setup)
    efficiency = {fig["key"]: fig["median"] for fig in figures}
    context.progress(
        "  celery_hosts: median efficiency without rate_limit_url "
        f"{efficiency['celery_hosts.local.efficiency']:.3f}, with it {efficiency['celery_hosts.redis.efficiency']:.3f}"
    )
    return {
        "id": "celery_hosts",
        "title": TITLE,
        "command": "make bench-celery  # or: .venv-celery/bin/python -m benchmarks --only celery_hosts",
        "figures": figures,
        "notes": [
            f"Airflow CeleryExecutor on PostgreSQL, Redis broker; {len(HOSTS)} celery workers of concurrency 2 "
            f"as {len(HOSTS)} hosts (own QUO_THROTTLE_DIR each); {plan.tasks} mapped MarkConversationReadOperator "
            f"tasks of {plan.ids_per_task} ids; connection without requests_per_second (the default "
            f"configuration). Server: a fixed one-second window of {LIMIT:g} requests, stated in its RateLimit "
            f"fields, {LATENCY * 1000:g} ms latency. {plan.repeats} run(s) per case, the cases alternating.",
            "Efficiency: requests accepted / (first request's arrival to 0.1 s after the last's) / the limit; "
            "it counts only the busy span, not Airflow's scheduling before the first request.",
            *notes,
            "Celery: " + ", ".join(f"{name} {metadata.version(name)}" for name in CELERY_PACKAGES) + ".",
        ],
    }
