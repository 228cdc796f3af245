"""Pytest plugin (entry point ``quo_simulator``): fixtures that start a local Quo simulator.

Registered through the ``pytest11`` entry point, so the fixtures are available in any project that
installs this provider. It imports only the standard-library simulator (never Airflow).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_quo.testing.simulator import QuoSimulator

#: Connection extra used by ``quo_connection``: a high client throttle so tests are not slowed down.
TEST_CONNECTION_EXTRA = {"requests_per_second": 1000}


@pytest.fixture
def quo_simulator() -> Iterator[QuoSimulator]:
    """A started :class:`~airflow_provider_quo.testing.QuoSimulator` with default settings, stopped afterwards."""
    from airflow_provider_quo.testing.simulator import QuoSimulator

    with QuoSimulator() as simulator:
        yield simulator


@pytest.fixture
def quo_connection(quo_simulator: QuoSimulator, monkeypatch: pytest.MonkeyPatch) -> QuoSimulator:
    """Point ``AIRFLOW_CONN_QUO_DEFAULT`` at ``quo_simulator`` (throttle raised to 1000/s); return the simulator.

    :param quo_simulator: the running simulator.
    :param monkeypatch: pytest's monkeypatch, which restores the environment afterwards.
    """
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", quo_simulator.connection_json(dict(TEST_CONNECTION_EXTRA)))
    return quo_simulator
