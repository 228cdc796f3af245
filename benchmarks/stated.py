"""8. The key's budget as the server states it: another client of the key, a raised limit, a lowered one.

Two servers, each enforcing exactly what it states in its rate-limit header fields, a fixed one-second
window per key, 60 ms latency unless said:

- ``simulator``: the bundled simulator (own process);
- ``contract``: :mod:`benchmarks.contract_server`, written from the API contract alone: lowercase fields,
  windows on its own clock's whole seconds, each request counted on arrival and answered after the latency.

The operator runs in a client process with the provider's default configuration (no
``requests_per_second`` in the connection). Scenarios:

- ``other_client``: the key's limit is 10/s and another client of the key spends 5/s of it, evenly;
- ``raised``: the key's limit is 30/s (the provider assumes 10/s until the server says otherwise);
- ``raised_slow``: the key's limit is 60/s and each request takes 0.5 s: about 30 must be under way, more
  than the 20 workers sized for the 10/s assumed (the pool is sized once the first response states 60);
- ``lowered``: the key's limit is 4/s.

Efficiency = marks / (operator wall time x what is left for the task: the limit, less the other client's
rate). The 429s are counted at the simulator. Each run gets a fresh simulator (a fresh base URL, so
nothing learnt in one run carries into the next); each scenario runs :data:`REPEATS` times (once with
``--quick``), the figures' targets apply to the median and the tables show the range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from benchmarks._common import Context, client_process, figure, run_mark_operator
from benchmarks._simproc import SimulatorProcess
from benchmarks.contract_server import ContractServer

TITLE = "The key's budget as the server states it: another client, raised and lowered limits"
LATENCY = 0.06
REPEATS = 3


@dataclass(frozen=True)
class Scenario:
    name: str
    limit: float
    other_client: float
    ids: int
    what: str
    latency: float = LATENCY

    @property
    def left(self) -> float:
        return self.limit - self.other_client


FULL = (
    Scenario("other_client", 10, 5, 150, "limit 10/s, another client spends 5/s"),
    Scenario("raised", 30, 0, 450, "limit raised to 30/s"),
    Scenario("raised_slow", 60, 0, 1800, "limit raised to 60/s, 0.5 s latency", latency=0.5),
    Scenario("lowered", 4, 0, 80, "limit lowered to 4/s"),
)
QUICK = (
    Scenario("other_client", 10, 5, 25, "limit 10/s, another client spends 5/s"),
    Scenario("raised", 30, 0, 60, "limit raised to 30/s"),
    Scenario("raised_slow", 60, 0, 120, "limit raised to 60/s, 0.5 s latency", latency=0.5),
    Scenario("lowered", 4, 0, 12, "limit lowered to 4/s"),
)


SERVERS = ("simulator", "contract")


def _run_on_contract_server(context: Context, scenario: Scenario) -> dict[str, Any]:
    server = ContractServer(
        quota=int(scenario.limit), latency=scenario.latency, other_client=scenario.other_client
    ).start()
    try:
        conn_json = json.dumps({"conn_type": "quo", "password": "bench-key", "host": server.base_url})
        ids = [f"CNbench{index:06d}" for index in range(scenario.ids)]
        with client_process(context, f"stated-contract-{scenario.name}") as client:
            outcome = client.call(run_mark_operator, conn_json, ids)
        posts, too_many = sum(server.answers.values()), server.answers.get(429, 0)
    finally:
        server.shutdown()
        server.server_close()
    rate = outcome["marked"] / outcome["elapsed"]
    return {**outcome, "rate": rate, "efficiency": rate / scenario.left, "posts": posts, "http_429": too_many}


def _run_scenario(context: Context, scenario: Scenario, server: str = "simulator") -> dict[str, Any]:
    if server == "contract":
        return _run_on_contract_server(context, scenario)
    with (
        SimulatorProcess(conversations=int(scenario.ids * 1.1) + 20) as sim,
        client_process(context, f"stated-{scenario.name}") as client,
    ):
        ids = sim.call("conversation_ids", deleted=False)[: scenario.ids]
        sim.set("rate_limit_window", "fixed")
        sim.set("other_client", scenario.other_client)
        sim.configure(latency=scenario.latency, rate_limit=scenario.limit)  # a fresh budget, requests forgotten
        outcome = client.call(run_mark_operator, sim.connection_json({}), ids)
        posts = [r for r in sim.get("requests") if r.method == "POST"]
    too_many = sum(1 for r in posts if r.status == 429)
    rate = outcome["marked"] / outcome["elapsed"]
    return {**outcome, "rate": rate, "efficiency": rate / scenario.left, "posts": len(posts), "http_429": too_many}


def _figures(scenario: Scenario, runs: list[dict[str, Any]], server: str) -> list[dict[str, Any]]:
    """One scenario's three figures over its runs: efficiency over what is left, share of 429s, ids failed."""
    params = {
        "limit_rps": scenario.limit,
        "other_client_rps": scenario.other_client,
        "ids": scenario.ids,
        "latency_s": scenario.latency,
        "server": server,
    }
    prefix = f"stated.{scenario.name}" + ("" if server == "simulator" else f".{server}")
    return [
        figure(
            f"{prefix}.efficiency",
            f"marks/s over what is left ({scenario.what}; {server})",
            [run_["efficiency"] for run_ in runs],
            "ratio",
            target=(">=", 0.95),
            params=params,
            note=", ".join(f"{run_['rate']:.2f}/s" for run_ in runs) + f" of {scenario.left:g}/s",
        ),
        figure(
            f"{prefix}.http_429_share",
            f"share of requests answered 429 ({scenario.what}; {server})",
            [run_["http_429"] / max(1, run_["posts"]) for run_ in runs],
            "ratio",
            target=("<=", 0.01),
            params=params,
            note=", ".join(f"{run_['http_429']} of {run_['posts']}" for run_ in runs),
        ),
        figure(
            f"{prefix}.failed",
            f"ids failed ({scenario.what}; {server})",
            [float(run_["failed"]) for run_ in runs],
            "count",
            target=("==", 0),
            params=params,
        ),
    ]


def run(context: Context) -> dict[str, Any]:
    scenarios = QUICK if context.quick else FULL
    figures: list[dict[str, Any]] = []
    for server in SERVERS:
        for scenario in scenarios:
            runs = []
            for _ in range(1 if context.quick else REPEATS):
                run_ = _run_scenario(context, scenario, server)
                context.progress(
                    f"  stated {scenario.name} ({server}): {run_['marked']}/{scenario.ids} marked in "
                    f"{run_['elapsed']:.2f}s = {run_['rate']:.2f}/s of {scenario.left:g}/s left "
                    f"(efficiency {run_['efficiency']:.3f}), {run_['http_429']} x 429 of {run_['posts']}"
                )
                runs.append(run_)
            figures += _figures(scenario, runs, server)
    return {
        "id": "stated",
        "title": TITLE,
        "command": "make bench  # or: .venv/bin/python -m benchmarks --only stated",
        "figures": figures,
        "notes": [
            f"Server: a fixed one-second window per key, stated in every response's RateLimit-Policy/RateLimit "
            f"fields; {LATENCY * 1000:g} ms latency (raised_slow: 0.5 s). Client: MarkConversationReadOperator, "
            f"connection without requests_per_second (the default configuration). {REPEATS} runs per scenario, "
            "each on a fresh simulator.",
            "Efficiency counts the run's fill (the first id goes alone, and teaches the limit) and drain.",
        ],
    }
