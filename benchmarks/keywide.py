"""6. One key, one budget: 1, 2, 4 and 8 task processes sharing one key against a strict per-key limit.

Each process marks its share of the ids through ``QuoHook.mark_conversations`` (the operator's path),
all starting at once (:mod:`benchmarks._taskproc`). The simulator (own process) answers 429 from a
token bucket of ``limit`` requests per second. Modes: ``host`` (no configuration: the processes share
the budget through this host's state file) and ``redis`` (``rate_limit_url``: each process has its own
host state directory, as on separate machines, and shares the budget only through a real
``redis-server`` on 127.0.0.1). Key-wide efficiency = ids marked / (slowest process's wall time x limit).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from benchmarks._common import Context, figure
from benchmarks._redisproc import RedisServer
from benchmarks._simproc import SimulatorProcess
from benchmarks._taskproc import run_task_processes

TITLE = "Key-wide budget: task processes sharing one key (host and Redis)"
LIMIT = 10.0
LATENCY = 0.1


@dataclass(frozen=True)
class Plan:
    processes: tuple[int, ...]
    ids: int
    modes: tuple[str, ...] = ("host", "redis")


FULL = Plan(processes=(1, 2, 4, 8), ids=200)
QUICK = Plan(processes=(1, 2), ids=30)


def _run_once(
    context: Context, sim: SimulatorProcess, redis: RedisServer, ids: list[str], mode: str, n: int
) -> dict[str, Any]:
    extra: dict[str, Any] = {"requests_per_second": LIMIT}
    if mode == "redis":
        extra["rate_limit_url"] = redis.url
        import redis as redis_client

        redis_client.Redis.from_url(redis.url).flushall()
    conn = sim.connection_json(extra)
    sim.configure(latency=LATENCY, rate_limit=LIMIT)  # buckets start full, requests forgotten
    jobs = []
    for number in range(n):
        host_dir = context.workdir / f"throttle-{mode}-{n}" / (str(number) if mode == "redis" else "shared")
        jobs.append({"conn": conn, "ids": ids[number::n], "env": {"QUO_THROTTLE_DIR": str(host_dir)}})
    results = run_task_processes(jobs, context.workdir)
    records = sim.get("requests")
    posts = [r for r in records if r.method == "POST"]
    marked = sum(len(r["marked"]) for r in results)
    wall = max(r["elapsed"] for r in results)
    return {
        "marked": marked,
        "failed": sum(len(r["failed"]) for r in results),
        "efficiency": marked / (wall * LIMIT),
        "posts": len(posts),
        "http_429": sum(1 for r in posts if r.status == 429),
        "cpu_per_process": statistics.mean(r["cpu"] for r in results),
        "wall": wall,
    }


def _figures(mode: str, n: int, ids: int, headline: bool, run_: dict[str, Any]) -> list[dict[str, Any]]:
    """One point's four figures: efficiency, share of 429s, CPU per process, ids failed."""
    share_429 = run_["http_429"] / max(1, run_["posts"])
    params = {"mode": mode, "processes": n, "ids": ids, "limit_rps": LIMIT, "latency_s": LATENCY}
    where = f"{mode}, {n} process{'es' if n > 1 else ''}"
    prefix = f"keywide.{mode}.{n}p"
    return [
        figure(
            f"{prefix}.efficiency",
            f"key-wide efficiency ({where})",
            [run_["efficiency"]],
            "ratio",
            target=(">=", 0.95) if headline else None,
            params=params,
        ),
        figure(
            f"{prefix}.http_429_share",
            f"share of requests answered 429 ({where})",
            [share_429],
            "ratio",
            target=("<=", 0.01) if headline else None,
            params=params,
            note=f"{run_['http_429']} of {run_['posts']}",
        ),
        figure(
            f"{prefix}.cpu_per_process",
            f"CPU seconds per process ({where})",
            [run_["cpu_per_process"]],
            "s",
            params=params,
        ),
        figure(
            f"{prefix}.failed",
            f"ids failed ({where})",
            [float(run_["failed"])],
            "count",
            target=("==", 0),
            params=params,
        ),
    ]


def run(context: Context) -> dict[str, Any]:
    plan = QUICK if context.quick else FULL
    figures: list[dict[str, Any]] = []
    with SimulatorProcess(conversations=plan.ids + 20) as sim, RedisServer() as redis:
        ids = sim.call("conversation_ids", deleted=False)[: plan.ids]
        for mode in plan.modes:
            for n in plan.processes:
                run_ = _run_once(context, sim, redis, ids, mode, n)
                context.progress(
                    f"  keywide {mode} x{n}: {run_['marked']}/{plan.ids} marked in {run_['wall']:.2f}s, efficiency "
                    f"{run_['efficiency']:.3f}, {run_['http_429']} x 429 of {run_['posts']}, "
                    f"CPU {run_['cpu_per_process']:.2f}s/process"
                )
                figures += _figures(mode, n, plan.ids, n == max(plan.processes), run_)
    return {
        "id": "keywide",
        "title": TITLE,
        "command": "make bench  # or: .venv/bin/python -m benchmarks --only keywide",
        "figures": figures,
        "notes": [
            f"{plan.ids} ids split over the processes; server: token bucket of {LIMIT:g}/s (capacity {LIMIT:g}), "
            f"{LATENCY * 1000:g} ms latency; connection requests_per_second = {LIMIT:g}. One run per point.",
            "Efficiency counts each process's fill (its first id goes alone) and the last response's latency; "
            "CPU is user + system seconds of each task process during its run (imports excluded).",
        ],
    }
