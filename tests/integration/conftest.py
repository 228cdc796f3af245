"""A real ``redis-server`` on 127.0.0.1 for the key-wide budget tests (``make test`` installs it if missing)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """One ``redis-server`` process: no persistence, loopback only; :meth:`stop` kills it mid-run."""

    port: int
    password: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH: `make test` installs it (apt-get install -y redis-server)")
        command = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        if self.password:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):  # until it accepts connections (about 10 ms)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return self
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"redis-server did not listen on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A started ``redis-server`` on a free port, killed afterwards."""
    server = RedisServer(free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server_with_password() -> Iterator[RedisServer]:
    """A started ``redis-server`` that requires a password, killed afterwards."""
    server = RedisServer(free_port(), password="r3dis-Secret-771").start()
    try:
        yield server
    finally:
        server.stop()
