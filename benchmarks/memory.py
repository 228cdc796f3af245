"""3. Memory: peak RSS growth of one operator run over 100,000 ids, and the size of its XCom.

Each configuration runs in a fresh client process: Airflow and the operator are imported and a
20-id warm-up run is done first, then the peak-RSS mark is reset (``/proc/self/clear_refs``) and the
operator marks every id against an unthrottled simulator (own process). Growth = peak RSS during
the run - RSS before it (the id list itself is already in memory: it is the task's input). The
XCom size is the JSON of the returned summary.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from benchmarks._common import MIB, Context, client_process, figure, quiet_airflow_logging, run_mark_operator
from benchmarks._simproc import SimulatorProcess

TITLE = "Memory of one operator run over 100,000 ids"
UNLIMITED_RPS = 100_000


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(conn_json: str, ids: list[str], include_marked_ids: bool) -> dict[str, Any]:
    """In a fresh client child: peak RSS growth (MiB) of one run, XCom bytes, counts and timing."""
    quiet_airflow_logging()
    run_mark_operator(conn_json, ids[:20], include_marked_ids=include_marked_ids)
    gc.collect()
    rss_before = _status_kib("VmRSS")
    reset = _reset_peak()
    peak_before = _status_kib("VmHWM")
    outcome = run_mark_operator(conn_json, ids, include_marked_ids=include_marked_ids)
    peak_after = _status_kib("VmHWM")
    baseline = rss_before if reset else max(rss_before, peak_before)
    return {
        **outcome,
        "rss_before_mib": rss_before / 1024,
        "peak_after_mib": peak_after / 1024,
        "growth_mib": (peak_after - baseline) / 1024,
        "rss_after_mib": _status_kib("VmRSS") / 1024,
        "peak_reset": reset,
    }


def _figures(include_marked_ids: bool, size: int, result: dict[str, Any]) -> list[dict[str, Any]]:
    """One configuration's three figures: peak RSS growth, XCom size, marks/s."""
    name = "marked_ids" if include_marked_ids else "counts_only"
    params = {"ids": size, "include_marked_ids": include_marked_ids, "server_limit": None}
    figures = [
        figure(
            f"memory.{name}.peak_rss_growth_mb",
            f"peak RSS growth, {size:,} ids, include_marked_ids={include_marked_ids}",
            [result["growth_mib"] * MIB / 1e6],
            "MB",
            target=("<=", 100.0) if include_marked_ids else None,
            params=params,
        ),
        figure(
            f"memory.{name}.xcom_bytes",
            f"XCom return_value JSON, {size:,} ids, include_marked_ids={include_marked_ids}",
            [result["xcom_bytes"]],
            "bytes",
            params=params,
        ),
        figure(
            f"memory.{name}.marks_per_second",
            f"marks/s during the run ({size:,} ids, unthrottled)",
            [result["marked"] / result["elapsed"]],
            "1/s",
            params=params,
        ),
    ]
    if not result["peak_reset"]:
        figures[0]["note"] = "peak RSS could not be reset: growth measured from the earlier peak"
    return figures


def run(context: Context) -> dict[str, Any]:
    count = 2_000 if context.quick else 100_000
    # round(5 %) of the seeded conversations are deleted (404): seed enough for `count` markable ids.
    conversations = int(count / 0.95) + 10
    configs = [(True, count)] if context.quick else [(True, count), (False, count // 4)]
    figures: list[dict[str, Any]] = []
    with SimulatorProcess(conversations=conversations) as sim:
        context.progress(f"  memory: simulator seeded {conversations:,} conversations in {sim.startup_seconds:.1f}s")
        ids = sim.call("conversation_ids", deleted=False)[:count]
        conn_json = sim.connection_json({"requests_per_second": UNLIMITED_RPS})
        for include_marked_ids, size in configs:
            sim.call("reset_stats")
            with client_process(context, f"memory-{include_marked_ids}") as client:
                result = client.call(measure, conn_json, ids[:size], include_marked_ids, timeout=1800)
            context.progress(
                f"  memory include_marked_ids={include_marked_ids}: {result['marked']:,} marked in "
                f"{result['elapsed']:.1f}s ({result['marked'] / result['elapsed']:.0f}/s), peak RSS growth "
                f"{result['growth_mib']:.1f} MiB, XCom {result['xcom_bytes']:,} bytes"
            )
            figures += _figures(include_marked_ids, size, result)
    return {
        "id": "memory",
        "title": TITLE,
        "command": "make bench  # or: .venv/bin/python -m benchmarks --only memory",
        "figures": figures,
        "notes": [
            "One run per configuration (100,000 marks take over a minute here); each in a fresh process.",
            "include_marked_ids=False only changes the XCom (counts instead of the id list), so it runs on "
            "a quarter of the ids to keep the suite under 10 minutes.",
        ],
    }
