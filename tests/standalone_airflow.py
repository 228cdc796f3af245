"""A real Airflow for the real-scheduler tests: ``api-server``, ``scheduler`` and ``dag-processor`` on 127.0.0.1.

:func:`start_airflow` migrates the metadata DB of a temporary ``AIRFLOW_HOME`` (SQLite in it by default;
:func:`postgres_database_url` gives a PostgreSQL database of its own, as production runs it), then starts
each component from the virtualenv in its own session (process group), bound to a free 127.0.0.1 port,
with no examples, the LocalExecutor, the log server off and the simple auth manager (everyone an admin,
no password). Its :class:`Components` stop every process group (SIGTERM, then SIGKILL); callers register
:meth:`Components.stop` as a finalizer before anything can fail. :class:`RestApi` drives runs through
``/api/v2``. Every wait is bounded, and a timeout shows the tail of each component's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

BIN = Path(sys.executable).parent
#: Bounds of the waits.
MIGRATE_TIMEOUT = 180
READY_TIMEOUT = 150
RUN_TIMEOUT = 150
STOP_TIMEOUT = 20
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(
    home: Path, port: int, dags_folder: Path, connections: Mapping[str, str], database_url: str | None = None
) -> dict[str, str]:
    """The components' environment: this process's, minus every Airflow setting of the test session.

    :param connections: connection id to its JSON (``AIRFLOW_CONN_<ID>``).
    :param database_url: the metadata DB (default: SQLite in ``home``); see :func:`postgres_database_url`.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    base_url = f"http://127.0.0.1:{port}"
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url or f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "quo-standalone-test-jwt-secret-0123456789abcdef",
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": value for conn_id, value in connections.items()})
    return env


def postgres_database_url(request: pytest.FixtureRequest) -> str:
    """A new PostgreSQL database for a standalone Airflow's metadata DB: on the session's server when the suite
    runs on PostgreSQL (``QUO_TEST_DB=postgres``), else on a throwaway server (:mod:`tests.postgres_server`)
    started here and stopped when ``request``'s scope ends."""
    session_url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not session_url.startswith("postgresql"):
        from tests.postgres_server import PostgresServer

        server = PostgresServer()
        request.addfinalizer(server.stop)
        session_url = server.start().url
    import psycopg2

    name = f"standalone_{os.getpid()}_{time.monotonic_ns()}"
    connection = psycopg2.connect(session_url.replace("postgresql+psycopg2://", "postgresql://"))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return session_url.rsplit("/", 1)[0] + f"/{name}"


class Components:
    """The Airflow processes of one test or module, each started in its own session; :meth:`stop` ends them all."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        output = (self.home / f"{name}.out").open("wb")
        self.procs[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        output.close()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"airflow {name} exited with {proc.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.home / f"{name}.out"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def tails(self) -> str:
        return "\n\n".join(f"--- {name}\n{self.tail(name)}" for name in self.procs)

    def stop(self) -> None:
        for proc in self.procs.values():
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs.values():
            self._signal(proc, signal.SIGKILL)  # the group: workers and children left behind included
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # start_new_session: the group id is the leader's pid

    def wait_for(self, what: str, check: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
        """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds, or at once if a
        component died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                value = check()
            except requests.RequestException:
                value = None
            if value:
                return value
            time.sleep(interval)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.tails()}")


def start_airflow(home: Path, env: dict[str, str], request: pytest.FixtureRequest) -> Components:
    """Migrate the metadata DB, then start the api-server, the scheduler and the dag-processor; they are
    stopped when ``request``'s scope (a test, a module) ends, whatever happens."""
    components = Components(home, env)
    request.addfinalizer(components.stop)
    migrate = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"],
        env=env,
        cwd=home,
        capture_output=True,
        timeout=MIGRATE_TIMEOUT,
        start_new_session=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    components.start("api-server", "api-server")
    components.start("scheduler", "scheduler", "--skip-serve-logs")
    components.start("dag-processor", "dag-processor")
    return components


class RestApi:
    """The REST API (``/api/v2``) of a standalone Airflow: DAGs, runs, task logs and XComs."""

    def __init__(self, port: int, components: Components) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v2"
        self.components = components
        self.http = requests.Session()
        self.http.headers["Accept"] = "application/json"

    def wait_dag_ready(self, dag_id: str) -> None:
        def ready() -> bool:
            response = self.http.get(f"{self.base}/dags/{dag_id}", timeout=5)
            return response.status_code == 200 and response.json()["is_paused"] is False

        self.components.wait_for(f"the DAG {dag_id} to be parsed and served", ready, READY_TIMEOUT)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run without a logical date (as ``airflow dags trigger`` does); its run id."""
        response = self.http.post(
            f"{self.base}/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}}, timeout=30
        )
        assert response.status_code == 200, response.text
        return str(response.json()["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/dags/{dag_id}/dagRuns/{run_id}", timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's runs, oldest first."""
        response = self.http.get(f"{self.base}/dags/{dag_id}/dagRuns", params={"order_by": "run_after"}, timeout=10)
        assert response.status_code == 200, response.text
        return list(response.json()["dag_runs"])

    def wait_finished(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        """Wait until the run succeeded or failed; the run."""

        def finished() -> dict[str, Any] | None:
            run = self.run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        return self.components.wait_for(f"run {run_id} of {dag_id} to finish", finished, timeout)

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        response = self.http.get(
            f"{self.base}/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1",
            params={"full_content": True},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return json.dumps(response.json())

    def clear(self, dag_id: str, run_id: str) -> None:
        """Clear every task of a finished run, as the UI's "Clear" does: the run starts again."""
        response = self.http.post(
            f"{self.base}/dags/{dag_id}/dagRuns/{run_id}/clear", json={"dry_run": False}, timeout=30
        )
        assert response.status_code == 200, response.text

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        response = self.http.get(
            f"{self.base}/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": True},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()["value"]
