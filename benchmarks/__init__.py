"""Benchmarks of airflow-provider-quo against the project's Quo simulator, on loopback.

``make bench`` (``.venv/bin/python -m benchmarks``) runs them all in one go, so ratios are fair, and
writes ``benchmarks/results/latest.json``; ``--quick`` is a smoke run with tiny sizes. Benchmarks
report figures, they assert nothing: the test suite asserts behaviour. See ``docs/benchmarks.md``.

Modules, one per benchmark (each has ``run(context) -> dict``):

- :mod:`benchmarks.ceiling`: marks/s against a strict per-key rate limit, and 429s received;
- :mod:`benchmarks.overhead`: client CPU per mark;
- :mod:`benchmarks.memory`: peak RSS growth and XCom size of 100,000 ids in one run;
- :mod:`benchmarks.alternatives`: against ``HttpOperator`` mapping and a serial loop, in ``dag.test()``;
- :mod:`benchmarks.listing`: conversations listed per second;
- :mod:`benchmarks.incremental`: requests and key budget of a daily cleanup run as history grows.
- :mod:`benchmarks.keywide`: 1-8 task processes sharing one key (host and Redis): efficiency, 429s, CPU.
- :mod:`benchmarks.stated`: the key's budget as the server states it: another client, raised and lowered limits.

Opt-in, never in the default run (``--only`` selects it): :mod:`benchmarks.celery_hosts`, the key's budget
across two hosts under a real CeleryExecutor (``make bench-celery``, in its own venv with the Celery provider).

The simulator runs in its own process (:mod:`benchmarks._simproc`) and every client measurement in a
spawned child (:mod:`benchmarks._common`), so neither's CPU is counted as the other's.
"""

from __future__ import annotations

#: Benchmark ids in the order they run (``--only`` takes these).
BENCHMARKS = ("ceiling", "overhead", "memory", "alternatives", "listing", "incremental", "keywide", "stated")

#: Benchmarks run only when named with ``--only`` (they need more than ``.venv``).
OPT_IN = ("celery_hosts",)

__all__ = ["BENCHMARKS", "OPT_IN"]
