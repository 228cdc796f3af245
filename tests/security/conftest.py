"""Fixtures of the security suite: a distinctive API key and a leak detector.

The key is long and random-looking so that finding it (or its secret half) anywhere is a real leak,
never a coincidence.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest

#: The API key every security test configures.
SECRET_KEY = "quo-sec-Kp7Tz71QwXbN5cLm2Rv8dH4j"


def _texts(value: Any) -> list[str]:
    texts = [str(value), repr(value)]
    with contextlib.suppress(TypeError, ValueError):
        texts.append(json.dumps(value, default=repr))
    return texts


def _assert_no_key(value: Any, where: str = "") -> None:
    for text in _texts(value):
        assert SECRET_KEY not in text, f"the API key leaked{' into ' + where if where else ''}"
        assert SECRET_KEY[8:] not in text, f"part of the API key leaked{' into ' + where if where else ''}"


@pytest.fixture
def secret_key() -> str:
    """The distinctive API key."""
    return SECRET_KEY


@pytest.fixture
def assert_no_key() -> Callable[..., None]:
    """``assert_no_key(value, where)``: fail if the key (or its secret half) is in str/repr/JSON of ``value``."""
    return _assert_no_key


@pytest.fixture
def connect_with_key(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``connect_with_key(sim, key=SECRET_KEY, **extra)``: point ``quo_default`` at ``sim`` with ``key``."""

    def point(sim: Any, key: str = SECRET_KEY, **extra: Any) -> None:
        connection = json.loads(sim.connection_json({"requests_per_second": 100_000, **extra}))
        connection["password"] = key
        monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", json.dumps(connection))

    return point
