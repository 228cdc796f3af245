"""Test-wide Airflow settings; they must be in the environment before anything imports airflow."""

from __future__ import annotations

import atexit
import base64
import functools
import gc
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="quo-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "example_dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
# QUO_TEST_DB=postgres (``make test-postgres``): the metadata DB on a throwaway PostgreSQL server instead.
if os.environ.get("QUO_TEST_DB") == "postgres":
    from tests.postgres_server import PostgresServer

    _POSTGRES = PostgresServer().start()
    atexit.register(_POSTGRES.stop)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = _POSTGRES.url
elif os.environ.get("QUO_TEST_DB", "sqlite") != "sqlite":
    raise RuntimeError(f"QUO_TEST_DB={os.environ['QUO_TEST_DB']!r}: use sqlite (the default) or postgres")
os.environ.pop("AIRFLOW_CONN_QUO_DEFAULT", None)
# One Fernet key for the session and the processes it starts (each would otherwise make its own and fail
# to read the Variables another wrote), as every component of a deployment shares one.
os.environ["AIRFLOW__CORE__FERNET_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
# The key budget's host state files (hooks/stores.py): per test session, so parallel runs never share a budget.
os.environ["QUO_THROTTLE_DIR"] = tempfile.mkdtemp(prefix="quo-throttle-")

import pytest  # noqa: E402

from airflow_provider_quo.hooks import retries as retry  # noqa: E402
from benchmarks._redisproc import RedisServer  # noqa: E402

TEST_API_KEY = "test-key-Zq81xQ"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Keep the collected suite (and imported Airflow) out of the garbage collector's full passes.

    With the whole suite collected, a full GC pass stops every thread long enough that requests bunch up
    behind it: the real-server rate-limit checks then saw 43 arrivals in one second at 40/s (Airflow 3.2).
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry waits instead of sleeping them; returns the list of waits."""
    waits: list[float] = []
    monkeypatch.setattr(retry, "wait_between_attempts", lambda seconds, _stop: waits.append(seconds))
    return waits


@pytest.fixture
def quo_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``quo_default`` connection for requests-mock tests, unthrottled; returns its base URL."""
    base_url = "http://127.0.0.1:8999"
    connection = {"conn_type": "quo", "password": TEST_API_KEY, "host": base_url, "extra": {"requests_per_second": 1e5}}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", json.dumps(connection))
    return base_url


@pytest.fixture(scope="session")
def dagbag_class() -> type:
    """Airflow's DagBag class, wherever this Airflow keeps it (it moved in 3.2)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag


def _one_in_process_execution_api() -> None:
    """Make ``dag.test()`` build its in-process execution API once per process, as Airflow 3.3 does.

    Airflow 3.1 and 3.2 build a new one for every task instance ``dag.test()`` runs
    (``supervisor.in_process_api_server``): a FastAPI app whose versioned schemas (Cadwyn) take seconds
    to generate, plus a thread for its lifespan. That was most of a ``dag.test()`` there (a month of
    cleanup runs: 5 minutes on 3.1). 3.3 caches it (``functools.lru_cache``); so do these tests below it.
    """
    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata DB for dag.test() (SQLite, about a second; or PostgreSQL with QUO_TEST_DB=postgres)."""
    from airflow.utils import db

    db.resetdb()
    _one_in_process_execution_api()


def _started_redis(password: str | None = None) -> RedisServer:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not on PATH: `make test` installs it (apt-get install -y redis-server)")
    return RedisServer(password=password).start()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A started ``redis-server`` on a free port, killed afterwards."""
    server = _started_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server_with_password() -> Iterator[RedisServer]:
    """A started ``redis-server`` that requires a password, killed afterwards."""
    server = _started_redis(password="r3dis-Secret-771")
    try:
        yield server
    finally:
        server.stop()
