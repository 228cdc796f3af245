"""An offline Quo API simulator for tests, demos and benchmarks (standard library only, no Airflow import).

>>> from airflow_provider_quo.testing import QuoSimulator, Faults
>>> with QuoSimulator(conversations=20, faults=Faults(error_rate=0.1)) as sim:  # doctest: +SKIP
...     print(sim.base_url)

See ``docs/simulator.md``.
"""

from __future__ import annotations

from airflow_provider_quo.testing.app import RecordedRequest
from airflow_provider_quo.testing.faults import ERROR_BODIES, ERROR_KINDS, HOSTILE_KINDS, Faults
from airflow_provider_quo.testing.simulator import QuoSimulator

__all__ = ["ERROR_BODIES", "ERROR_KINDS", "HOSTILE_KINDS", "Faults", "QuoSimulator", "RecordedRequest"]
