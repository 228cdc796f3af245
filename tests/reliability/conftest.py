"""Fixtures of the reliability suite: a connection to a live simulator and an operator runner.

Every test here talks HTTP to a :class:`~airflow_provider_quo.testing.QuoSimulator` on 127.0.0.1;
nothing sleeps in the client (the autouse ``no_retry_sleep`` of ``tests/conftest.py`` records the
retry waits, and the throttle is raised to 100,000 requests/s unless the throttle is the subject).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.testing import QuoSimulator

#: Connection extra that takes the client throttle out of the way.
FAST = {"requests_per_second": 100_000}


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``connect(sim, **extra)``: point ``quo_default`` at ``sim`` with ``FAST`` plus ``extra`` as its extra."""

    def point(sim: QuoSimulator, **extra: Any) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", sim.connection_json({**FAST, **extra}))

    return point


@pytest.fixture
def context() -> dict[str, Any]:
    """The part of an Airflow context the marking operators use: a mock ``ti`` that records XCom pushes."""
    return {"ti": mock.MagicMock(name="ti")}


def _pushed(context: dict[str, Any]) -> dict[str, Any]:
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}


@pytest.fixture
def pushed_xcoms() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``pushed_xcoms(context)``: the XComs an operator pushed through ``context["ti"].xcom_push``, by key."""
    return _pushed


def _run_bounded(call: Callable[[], Any], timeout: float) -> tuple[Any, BaseException | None]:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=target, name="bounded-call", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"the call did not return within {timeout} s: it hangs")
    return outcome.get("result"), outcome.get("error")


@pytest.fixture
def run_bounded() -> Callable[[Callable[[], Any], float], tuple[Any, BaseException | None]]:
    """``run_bounded(call, timeout)``: run ``call`` on a daemon thread, wait at most ``timeout`` seconds.

    Returns ``(result, error)``; fails the test if the call is still running after ``timeout`` (a
    hang) instead of hanging the suite. No wall-time assertion is made on calls that return.
    """
    return _run_bounded
