"""1. Ceiling efficiency: marks per second achieved against a strict per-key server limit.

The simulator (own process) answers 429 from a token bucket of ``limit`` requests per second; the
operator runs in a client process with the connection's ``requests_per_second`` set to the same
limit. Efficiency = marks / (operator wall time x limit): the run's fill (the first id is sent alone,
before the pool starts) and drain (the last response) count against it. The 429s are counted at the
simulator. Also reported: the steady-state rate, i.e. how evenly the requests that did arrive were
spaced once the pool runs ((n - 2) / (last arrival - second arrival) / limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks._common import Context, client_process, figure, run_mark_operator
from benchmarks._simproc import SimulatorProcess

TITLE = "Ceiling efficiency against a strict server rate limit"


@dataclass(frozen=True)
class Scenario:
    name: str
    limit: float
    latency: float
    ids: int
    repeats: int
    headline: bool = False


FULL = (
    Scenario("10rps_250ms", 10, 0.25, 150, 3, headline=True),
    Scenario("10rps_50ms", 10, 0.05, 100, 2),
    Scenario("10rps_1s", 10, 1.0, 100, 2),
    Scenario("100rps_250ms", 100, 0.25, 1500, 2),
)
QUICK = (
    Scenario("10rps_250ms", 10, 0.25, 15, 1, headline=True),
    Scenario("100rps_50ms", 100, 0.05, 60, 1),
)


def _steady_rate(arrivals: list[float]) -> float:
    """Requests per second between the second and the last arrival (the first id is sent alone)."""
    arrivals = sorted(arrivals)[1:]
    if len(arrivals) < 2 or arrivals[-1] <= arrivals[0]:
        return 0.0
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def _model(scenario: Scenario) -> float:
    """Efficiency of a perfect throttle once fill and drain are counted.

    The first id goes alone (one round trip, or one slot if that is longer), the rest leave one slot
    apart, and the last response comes a round trip after the last request.
    """
    n, rate, latency = scenario.ids, scenario.limit, scenario.latency
    elapsed = max(latency, 1 / rate) + (n - 2) / rate + latency
    return n / (elapsed * rate)


@dataclass
class Samples:
    """One scenario's measurements, one entry per repeat."""

    efficiency: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    steady: list[float] = field(default_factory=list)
    throttled: list[float] = field(default_factory=list)


def _measure(context: Context, sim: SimulatorProcess, client: Any, ids: list[str], scenario: Scenario) -> Samples:
    """Run the operator ``scenario.repeats`` times on the scenario's ids against a fresh server limit."""
    sample_ids = ids[: scenario.ids]
    conn_json = sim.connection_json({"requests_per_second": scenario.limit})
    samples = Samples()
    for repeat in range(scenario.repeats):
        sim.configure(latency=scenario.latency, rate_limit=scenario.limit)  # buckets start full
        outcome = client.call(run_mark_operator, conn_json, sample_ids)
        records = sim.get("requests")
        arrivals = [r.started for r in records if r.method == "POST"]
        too_many = sum(1 for r in records if r.status == 429)
        rate = outcome["marked"] / outcome["elapsed"]
        samples.efficiency.append(rate / scenario.limit)
        samples.rates.append(rate)
        samples.steady.append(_steady_rate(arrivals) / scenario.limit)
        samples.throttled.append(float(too_many))
        context.progress(
            f"  ceiling {scenario.name} #{repeat + 1}: {outcome['marked']}/{scenario.ids} marked in "
            f"{outcome['elapsed']:.2f}s = {rate:.2f}/s (efficiency {rate / scenario.limit:.3f}), "
            f"{too_many} x 429"
        )
    return samples


def _figures(scenario: Scenario, samples: Samples) -> list[dict[str, Any]]:
    """The scenario's four figures: efficiency, marks/s, steady-state rate, 429s."""
    params = {"limit_rps": scenario.limit, "latency_s": scenario.latency, "ids": scenario.ids}
    prefix = f"ceiling.{scenario.name}"
    where = f"{scenario.limit:g} rps, {scenario.latency * 1000:g} ms"
    fill = f"fill/drain model {_model(scenario):.3f}"
    return [
        figure(
            f"{prefix}.efficiency",
            f"efficiency ({where}, {scenario.ids} ids)",
            samples.efficiency,
            "ratio",
            target=(">=", 0.95) if scenario.headline else None,
            params=params,
            note=fill,
        ),
        figure(f"{prefix}.marks_per_second", f"marks/s ({where})", samples.rates, "1/s", params=params),
        figure(
            f"{prefix}.steady_efficiency",
            f"steady-state request rate / limit ({where})",
            samples.steady,
            "ratio",
            params=params,
        ),
        figure(
            f"{prefix}.http_429",
            f"429 responses ({where})",
            samples.throttled,
            "count",
            target=("==", 0),
            params=params,
        ),
    ]


def run(context: Context) -> dict[str, Any]:
    scenarios = QUICK if context.quick else FULL
    largest = max(s.ids for s in scenarios)
    figures: list[dict[str, Any]] = []
    with SimulatorProcess(conversations=int(largest * 1.1) + 20) as sim, client_process(context, "ceiling") as client:
        ids = sim.call("conversation_ids", deleted=False)
        for scenario in scenarios:
            figures += _figures(scenario, _measure(context, sim, client, ids, scenario))
    return {
        "id": "ceiling",
        "title": TITLE,
        "command": "make bench  # or: .venv/bin/python -m benchmarks --only ceiling",
        "figures": figures,
        "notes": [
            "Efficiency = marks / (operator wall time x limit); the operator sends the first id alone "
            "(so a bad key costs one request), then the pool keeps the throttle busy. The fill/drain model "
            "is what a perfect throttle would score: max(latency, 1/limit) + (n - 2)/limit + latency.",
            "Server: token bucket of `limit` tokens per second, capacity `limit`, answering 429 when empty; "
            "latency added to every response. Client: connection extra requests_per_second = limit.",
        ],
    }
