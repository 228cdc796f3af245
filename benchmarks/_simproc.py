"""The Quo simulator in its own process, so its CPU is never counted as the client's.

The child builds a :class:`~airflow_provider_quo.testing.QuoSimulator`, reports its base URL, then
answers commands on a pipe: read or set an attribute (``latency``, ``rate_limit``...) or call a
method (``reset_stats``, ``request_count``, ``conversation_ids``...).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import time
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

API_KEY = "bench-key-7Hq2"


def _serve(conn: Connection, kwargs: dict[str, Any]) -> None:
    from airflow_provider_quo.testing import QuoSimulator

    started = time.perf_counter()
    simulator = QuoSimulator(**kwargs).start()
    conn.send(("ready", simulator.base_url, time.perf_counter() - started))
    try:
        while True:
            try:
                command, name, args, call_kwargs = conn.recv()
            except EOFError:
                break
            if command == "stop":
                break
            try:
                if command == "cpu":
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    value: Any = usage.ru_utime + usage.ru_stime
                elif command == "get":
                    value = getattr(simulator, name)
                elif command == "set":
                    setattr(simulator, name, args[0])
                    value = None
                else:
                    value = getattr(simulator, name)(*args, **call_kwargs)
                conn.send(("ok", value))
            except Exception as error:  # reported to the caller, who raises it
                conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        simulator.stop()


class SimulatorProcess:
    """A :class:`QuoSimulator` running in a separate (spawned) process.

    :param kwargs: keyword arguments of ``QuoSimulator`` (``api_key`` defaults to :data:`API_KEY`).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("api_key", API_KEY)
        self.api_key: str = kwargs["api_key"]
        self._kwargs = kwargs
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self.base_url = ""
        #: Seconds the child took to build (seed) and start the simulator.
        self.startup_seconds = 0.0

    def start(self) -> SimulatorProcess:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._kwargs), name="quo-simulator", daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        if not parent.poll(300):
            raise RuntimeError("the simulator process did not start within 300 s")
        _, self.base_url, self.startup_seconds = parent.recv()
        return self

    def _ask(self, command: str, name: str, /, *args: Any, **kwargs: Any) -> Any:
        if self._conn is None:
            raise RuntimeError("the simulator process is not running")
        self._conn.send((command, name, args, kwargs))
        status, value = self._conn.recv()
        if status == "error":
            raise RuntimeError(f"simulator {command} {name}: {value}")
        return value

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call ``QuoSimulator.<name>(*args, **kwargs)`` in the child and return its (pickled) result."""
        return self._ask("call", name, *args, **kwargs)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the simulator process has used so far."""
        return float(self._ask("cpu", ""))

    def get(self, name: str) -> Any:
        """Read an attribute of the child's simulator."""
        return self._ask("get", name)

    def set(self, name: str, value: Any) -> None:
        """Assign an attribute of the child's simulator (``latency``, ``rate_limit``, ``faults``)."""
        self._ask("set", name, value)

    def configure(self, *, latency: float = 0.0, rate_limit: float | None = None) -> None:
        """Set latency and rate limit (which refills the buckets) and forget the recorded requests."""
        self.set("latency", latency)
        self.set("rate_limit", rate_limit)
        self.call("reset_stats")

    def connection_json(self, conn_extra: dict[str, Any] | None = None) -> str:
        """JSON of a ``quo`` connection to this simulator (for ``AIRFLOW_CONN_QUO_DEFAULT``)."""
        return str(self.call("connection_json", conn_extra))

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("stop", "", (), {}))
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)
            self._process = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
