"""A real ``redis-server`` on 127.0.0.1 for the key-wide budget tests (``make test`` installs it if missing)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from benchmarks._redisproc import RedisServer


def _started(password: str | None = None) -> RedisServer:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not on PATH: `make test` installs it (apt-get install -y redis-server)")
    return RedisServer(password=password).start()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A started ``redis-server`` on a free port, killed afterwards."""
    server = _started()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server_with_password() -> Iterator[RedisServer]:
    """A started ``redis-server`` that requires a password, killed afterwards."""
    server = _started(password="r3dis-Secret-771")
    try:
        yield server
    finally:
        server.stop()
