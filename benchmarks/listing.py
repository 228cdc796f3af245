"""5. Listing: conversations per second through ``QuoHook.iter_conversations`` at 100 per page.

Pages are fetched one after the other (each needs the previous ``nextPageToken``), so the rate is
``100 / (round trip + server time + client time)`` per page. Measured unthrottled with no latency
(what the client and simulator can do) and at Quo's 10 rps with 250 ms latency (the serial round
trip then bounds it, far below the limit).
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks._common import Context, client_process, cpu_seconds, figure
from benchmarks._simproc import SimulatorProcess

TITLE = "Listing conversations (iter_conversations, 100 per page)"


def measure(conn_json: str, repeats: int) -> list[dict[str, float]]:
    """In a client child: ``repeats`` full listings; wall, CPU and count of each."""
    from airflow_provider_quo.hooks.quo import QuoHook

    os.environ["AIRFLOW_CONN_QUO_DEFAULT"] = conn_json
    next(iter(QuoHook().iter_conversations(page_size=10)))  # imports, first connection
    samples = []
    for _ in range(repeats):
        hook = QuoHook()
        cpu_before = cpu_seconds()
        started = time.perf_counter()
        count = sum(1 for _ in hook.iter_conversations(page_size=100))
        samples.append(
            {"elapsed": time.perf_counter() - started, "cpu": cpu_seconds() - cpu_before, "count": float(count)}
        )
    return samples


#: (name, conversations seeded, server limit, latency, repeats)
Scenario = tuple[str, int, float | None, float, int]
FULL: list[Scenario] = [("unthrottled", 10_000, None, 0.0, 3), ("10rps_250ms", 1_000, 10.0, 0.25, 2)]
QUICK: list[Scenario] = [("unthrottled", 500, None, 0.0, 1), ("10rps_250ms", 200, 10.0, 0.25, 1)]


def run(context: Context, scenarios: list[Scenario] | None = None) -> dict[str, Any]:
    """Run the listing benchmark (``scenarios`` overrides the sizes, e.g. for a smoke test)."""
    scenarios = scenarios or (QUICK if context.quick else FULL)
    figures: list[dict[str, Any]] = []
    with client_process(context, "listing") as client:
        for name, conversations, limit, latency, repeats in scenarios:
            with SimulatorProcess(conversations=conversations, rate_limit=limit, latency=latency) as sim:
                conn_json = sim.connection_json({"requests_per_second": limit or 100_000})
                samples = client.call(measure, conn_json, repeats)
                throttled = sim.call("request_count", status=429)
            for index, sample in enumerate(samples):
                context.progress(
                    f"  listing {name} #{index + 1}: {sample['count']:.0f} conversations in {sample['elapsed']:.2f}s "
                    f"= {sample['count'] / sample['elapsed']:.0f}/s"
                )
            params = {"conversations": conversations, "page_size": 100, "limit_rps": limit, "latency_s": latency}
            where = "unthrottled, no latency" if limit is None else f"{limit:g} rps, {latency * 1000:g} ms"
            figures += [
                figure(
                    f"listing.{name}.conversations_per_second",
                    f"conversations listed per second ({where})",
                    [s["count"] / s["elapsed"] for s in samples],
                    "1/s",
                    params=params,
                ),
                figure(
                    f"listing.{name}.client_cpu_ms_per_page",
                    f"client CPU per page of 100 ({where})",
                    [s["cpu"] / (s["count"] / 100) * 1000 for s in samples],
                    "ms",
                    params=params,
                ),
                figure(
                    f"listing.{name}.http_429", f"429 responses ({where})", [float(throttled)], "count", params=params
                ),
            ]
    return {
        "id": "listing",
        "title": TITLE,
        "command": "make bench  # or: .venv/bin/python -m benchmarks --only listing",
        "figures": figures,
        "notes": [
            "No target was set for listing. Paging is serial by design of the API (cursor tokens).",
            "The simulator filters its whole workspace for every page (about 2 ms per page at 10,000 "
            "conversations, 28 ms at 100,000), so the unthrottled figure depends on the workspace size.",
        ],
    }
