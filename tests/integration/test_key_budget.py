"""One key, one budget: task processes sharing a key stay under the server's strict per-key limit.

Real processes (``benchmarks._taskproc``), the simulator's strict token bucket (``rate_limit=40``) and,
in Redis mode, a real ``redis-server`` on 127.0.0.1. Counts are asserted, with bounds a slow machine cannot
cross, never timings; the rates reached are benchmark figures (benchmarks/keywide.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_quo.hooks.stores import key_digest
from airflow_provider_quo.testing import QuoSimulator
from benchmarks._taskproc import run_task_processes

# Rate-bound (a few seconds each) and independent of the Airflow version: `make test` runs them, the older-Airflow
# suites skip them.
pytestmark = [pytest.mark.integration, pytest.mark.airflow_independent]

KEY = "key-budget-key-Hq93"
LIMIT = 40.0
PROCESSES = 4
IDS_EACH = 30


def split(ids: list[str], parts: int) -> list[list[str]]:
    return [ids[n::parts] for n in range(parts)]


def run_processes(sim: QuoSimulator, tmp_path: Path, extra: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    ids = sim.conversation_ids(deleted=False)[: PROCESSES * IDS_EACH]
    conn = sim.connection_json({"requests_per_second": LIMIT, **extra})
    return run_task_processes([{"conn": conn, "ids": part} for part in split(ids, PROCESSES)], tmp_path, **kwargs)


def assert_every_id_marked_once(sim: QuoSimulator, results: list[dict[str, Any]]) -> None:
    expected = set(sim.conversation_ids(deleted=False)[: PROCESSES * IDS_EACH])
    assert all(r["returncode"] == 0 for r in results), [r["stderr"][-2000:] for r in results]
    assert all(r["failed"] == {} for r in results), [r["failed"] for r in results]
    assert sorted(i for r in results for i in r["marked"]) == sorted(expected)
    assert sim.read_ids() == expected


def assert_the_key_was_shared(sim: QuoSimulator) -> None:
    """Four processes each pacing alone would send 160/s into 40/s: three requests in four answered 429, and
    more with their retries. Shared, none on a quiet machine; a loaded one may bunch requests behind a stall
    (a process or the server held up, then catching up) across the bucket's edge: the bound is far from both."""
    posts = [r for r in sim.requests if r.method == "POST"]
    throttled = [r for r in posts if r.status == 429]
    assert len(throttled) <= 0.2 * len(posts), f"{len(throttled)} of {len(posts)} requests answered 429"


@pytest.fixture
def simulator() -> Any:
    with QuoSimulator(
        api_key=KEY, conversations=PROCESSES * IDS_EACH + 10, seed=3, rate_limit=LIMIT, latency=0.05
    ) as sim:
        yield sim


def test_four_processes_share_the_key_on_one_host_by_default(simulator: QuoSimulator, tmp_path: Path) -> None:
    """No configuration: four task processes on this host pace as one, so the strict server barely 429s."""
    results = run_processes(simulator, tmp_path, {})

    assert_every_id_marked_once(simulator, results)
    assert_the_key_was_shared(simulator)


def test_four_processes_share_the_key_through_redis(
    simulator: QuoSimulator, tmp_path: Path, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``rate_limit_url`` every process paces through Redis (each with its own host state dir, as on
    four machines), and the server still barely 429s; the key is in Redis only as a digest."""
    import redis

    ids = split(simulator.conversation_ids(deleted=False)[: PROCESSES * IDS_EACH], PROCESSES)
    conn = simulator.connection_json({"requests_per_second": LIMIT, "rate_limit_url": redis_server.url})
    jobs = [
        {"conn": conn, "ids": part, "env": {"QUO_THROTTLE_DIR": str(tmp_path / f"host{n}")}}
        for n, part in enumerate(ids)
    ]
    results = run_task_processes(jobs, tmp_path)

    assert_every_id_marked_once(simulator, results)
    assert_the_key_was_shared(simulator)
    client = redis.Redis.from_url(redis_server.url)
    digest = key_digest(KEY, simulator.base_url)
    assert client.keys("*") == [f"quo:budget:{digest}".encode()]
    assert KEY.encode() not in (client.get(f"quo:budget:{digest}") or b"")


def test_redis_stopped_mid_run_loses_nothing(simulator: QuoSimulator, tmp_path: Path, redis_server: Any) -> None:
    """Redis killed while four processes run: each logs one clear warning (no traceback), falls back to
    the host budget, and every id is still marked."""

    def kill_redis_after_a_third() -> None:
        stopped = threading.Event()
        while not stopped.wait(0.05):
            if simulator.request_count(method="POST") >= PROCESSES * IDS_EACH // 3:
                redis_server.stop()
                return

    results = run_processes(simulator, tmp_path, {"rate_limit_url": redis_server.url}, during=kill_redis_after_a_third)

    assert_every_id_marked_once(simulator, results)
    assert_the_key_was_shared(simulator)
    said = []
    for result in results:  # a process that was done before Redis died saw nothing to say
        assert "Traceback" not in result["stderr"]
        failures = [w for w in result["warnings"] if w.startswith("Redis at ")]
        assert len(failures) <= 1, result["warnings"]  # one warning per outage, not one per request
        said += failures
    assert said, "the processes still running when Redis died said so"
    assert all(f"redis://127.0.0.1:{redis_server.port}/0 failed (ConnectionError)" in w for w in said)


def test_redis_down_at_start_falls_back_with_a_warning(
    simulator: QuoSimulator, tmp_path: Path, redis_server: Any
) -> None:
    redis_server.stop()
    results = run_processes(simulator, tmp_path, {"rate_limit_url": redis_server.url})

    assert_every_id_marked_once(simulator, results)
    assert_the_key_was_shared(simulator)
    assert all(any(w.startswith("Redis at ") for w in r["warnings"]) for r in results)
    assert all("Traceback" not in r["stderr"] for r in results)


def test_a_redis_password_never_shows_even_when_redis_dies(
    simulator: QuoSimulator, tmp_path: Path, redis_server_with_password: Any
) -> None:
    server = redis_server_with_password
    ids = simulator.conversation_ids(deleted=False)[:IDS_EACH]
    conn = simulator.connection_json({"requests_per_second": LIMIT, "rate_limit_url": server.url})

    def kill_redis_after_ten() -> None:
        tick = threading.Event()
        while not tick.wait(0.05):
            if simulator.request_count(method="POST") >= 10:
                server.stop()
                return

    (result,) = run_task_processes([{"conn": conn, "ids": ids}], tmp_path, during=kill_redis_after_ten)

    assert sorted(result["marked"]) == sorted(ids)
    assert any(f"redis://:***@127.0.0.1:{server.port}/0 failed" in w for w in result["warnings"])
    assert server.password not in result["stderr"]
    assert all(server.password not in w for w in result["warnings"])
