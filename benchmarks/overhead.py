"""2. Per-mark client overhead: CPU seconds the client process spends per mark.

No server limit, no latency; the connection's throttle is raised out of the way, so the operator
runs flat out (its default pool of 64 threads). CPU is the client process's own user + system time
(``getrusage``, all threads) around ``execute``; the simulator runs in another process. The
baseline is the same operator run on one id (hook, connection, session, pool start-up): per-mark
CPU = (CPU(N ids) - CPU(1 id)) / (N - 1). For scale, the CPU of a bare serial
``requests.Session.post`` loop is measured too: the floor any requests-based client pays.
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks._common import Context, client_process, cpu_seconds, figure, quiet_airflow_logging, run_mark_operator
from benchmarks._simproc import SimulatorProcess

TITLE = "Per-mark client CPU overhead"
UNLIMITED_RPS = 100_000
#: A pool variant: its name, ``max_workers`` (``None``: the default), repeats, and the ids it marks.
Variant = tuple[str, int | None, int, int]


def measure(conn_json: str, ids: list[str], repeats: int, max_workers: int | None) -> list[dict[str, float]]:
    """In a client child: warm up, then ``repeats`` x (baseline on 1 id, run on all ``ids``)."""
    quiet_airflow_logging()
    run_mark_operator(conn_json, ids[: min(len(ids), 200)], max_workers=max_workers)  # imports, first connections
    samples = []
    for _ in range(repeats):
        baseline = run_mark_operator(conn_json, ids[:1], max_workers=max_workers)
        full = run_mark_operator(conn_json, ids, max_workers=max_workers)
        samples.append(
            {
                "baseline_cpu": baseline["cpu"],
                "cpu": full["cpu"],
                "elapsed": full["elapsed"],
                "marked": full["marked"],
                "per_mark": (full["cpu"] - baseline["cpu"]) / max(1, len(ids) - 1),
            }
        )
    return samples


def raw_requests_cpu(base_url: str, api_key: str, ids: list[str]) -> float:
    """In a client child: CPU seconds per request of a serial loop of bare ``requests`` POSTs."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = api_key
    for conversation_id in ids[:20]:
        session.post(f"{base_url}/v1/conversations/{conversation_id}/mark-as-read", timeout=30).json()
    before = cpu_seconds()
    for conversation_id in ids:
        session.post(f"{base_url}/v1/conversations/{conversation_id}/mark-as-read", timeout=30).json()
    return (cpu_seconds() - before) / len(ids)


def _variant_figures(
    name: str, workers: int | None, count: int, samples: list[dict[str, float]], sim_per_request: float
) -> list[dict[str, Any]]:
    """One pool variant's four figures: net and gross CPU per mark, marks/s, the simulator's CPU."""
    params = {"ids": count, "max_workers": workers or "default (64)", "server_limit": None, "latency_s": 0}
    label = "default pool" if workers is None else f"max_workers={workers}"
    return [
        figure(
            f"overhead.{name}.cpu_ms_per_mark",
            f"client CPU per mark, net of the 1-id baseline ({label})",
            [s["per_mark"] * 1000 for s in samples],
            "ms",
            target=("<=", 1.0) if workers is None else None,
            params=params,
        ),
        figure(
            f"overhead.{name}.gross_cpu_ms_per_mark",
            f"client CPU per mark, whole run / ids ({label})",
            [s["cpu"] / s["marked"] * 1000 for s in samples],
            "ms",
            params=params,
        ),
        figure(
            f"overhead.{name}.marks_per_second",
            f"marks/s, unthrottled, 2 processes on {os.cpu_count()} cores ({label})",
            [s["marked"] / s["elapsed"] for s in samples],
            "1/s",
            params=params,
        ),
        figure(
            f"overhead.{name}.simulator_cpu_ms_per_request",
            f"simulator CPU per request (other process, not counted above; {label})",
            [sim_per_request * 1000],
            "ms",
            params=params,
        ),
    ]


def _measure_variant(
    context: Context, sim: SimulatorProcess, client: Any, conn_json: str, ids: list[str], variant: Variant
) -> list[dict[str, Any]]:
    """Run one pool variant in the client; its figures (``ids``: the benchmark's ``count`` ids)."""
    name, workers, runs, count = variant
    sim_cpu = sim.cpu_seconds()
    samples = client.call(measure, conn_json, ids, runs, workers)
    sim_per_request = (sim.cpu_seconds() - sim_cpu) / max(1, sim.call("request_count"))
    sim.call("reset_stats")
    for index, sample in enumerate(samples):
        context.progress(
            f"  overhead {name} #{index + 1}: {sample['marked']} marks, client CPU "
            f"{sample['per_mark'] * 1000:.3f} ms/mark, {sample['marked'] / sample['elapsed']:.0f} marks/s"
        )
    return _variant_figures(name, workers, count, samples, sim_per_request)


def _raw_requests_figure(
    context: Context, sim: SimulatorProcess, client: Any, ids: list[str], raw_count: int
) -> dict[str, Any]:
    """The reference floor: a serial loop of bare ``requests`` POSTs, in the client."""
    started = time.perf_counter()
    raw = client.call(raw_requests_cpu, sim.base_url, sim.api_key, ids)
    context.progress(f"  overhead raw requests: {raw * 1000:.3f} ms CPU/request ({time.perf_counter() - started:.1f}s)")
    return figure(
        "overhead.raw_requests.cpu_ms_per_request",
        "bare requests.Session.post serial loop, CPU per request (reference floor)",
        [raw * 1000],
        "ms",
        params={"ids": raw_count},
    )


def run(context: Context) -> dict[str, Any]:
    count, repeats, raw_count = (300, 1, 100) if context.quick else (5000, 5, 1000)
    figures: list[dict[str, Any]] = []
    with SimulatorProcess(conversations=int(count * 1.1) + 20) as sim, client_process(context, "overhead") as client:
        ids = sim.call("conversation_ids", deleted=False)[:count]
        conn_json = sim.connection_json({"requests_per_second": UNLIMITED_RPS})
        variants: list[Variant] = [("default", None, repeats, count)]
        if not context.quick:
            variants.append(("8_workers", 8, 2, count))
        for variant in variants:
            figures += _measure_variant(context, sim, client, conn_json, ids, variant)
        figures.append(_raw_requests_figure(context, sim, client, ids[:raw_count], raw_count))
    return {
        "id": "overhead",
        "title": TITLE,
        "command": "make bench  # or: .venv/bin/python -m benchmarks --only overhead",
        "figures": figures,
        "notes": [
            "CPU = getrusage(RUSAGE_SELF) user + system of the client process around execute(), all threads; "
            "the simulator's CPU is in another process and reported separately.",
            "Baseline = the same operator on 1 id (hook, connection lookup, session and thread pool start-up).",
        ],
    }
