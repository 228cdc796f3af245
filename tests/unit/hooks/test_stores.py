"""Where a key's budget lives (hooks/stores.py, and ``key_store``): each store keeps the one shared
state, atomically; the host file across processes; Redis across hosts, with its compare-and-set under contention and
this host's store while Redis is down. Redis tests run against the real ``redis-server`` of ``tests/conftest.py``."""

from __future__ import annotations

import logging
import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_quo.exceptions import QuoError
from airflow_provider_quo.hooks import stores
from airflow_provider_quo.hooks.budget import BudgetState
from airflow_provider_quo.hooks.stores import STATE_DIR_ENV, HostStore, ProcessStore, RedisStore, key_digest, key_store
from benchmarks._redisproc import RedisServer
from tests.unit.conftest import FakeClock

KEY = "store-key-Lk29xQ"
DIGEST = key_digest(KEY, "https://api.quo.com")
REPO = Path(__file__).resolve().parents[3]


def bump(state: BudgetState, now: float) -> float:
    """One atomic step: count it in ``epoch`` (any field would do) and return the count."""
    state.epoch += 1
    return state.epoch


def read(store: Any) -> BudgetState:
    return store.update(lambda state, now: BudgetState.unpack(state.pack()))


# -- the key's digest -----------------------------------------------------------------------------------------


def test_the_digest_holds_neither_key_nor_url_and_separates_both() -> None:
    assert KEY not in DIGEST
    assert len(DIGEST) == 64
    assert key_digest(KEY, "https://api.quo.com") == DIGEST
    assert key_digest(KEY, "https://api.openphone.com") != DIGEST
    assert key_digest("other-key", "https://api.quo.com") != DIGEST
    assert key_digest("b", "a") != key_digest("", "a\0b"), "the boundary between URL and key is unambiguous"


# -- this process ---------------------------------------------------------------------------------------------


def test_the_process_store_keeps_the_state_in_its_clock(clock: FakeClock) -> None:
    store = ProcessStore(clock=clock)
    assert store.update(lambda state, now: state.reserve(now, 10)) == 1000.0
    clock.now = 1000.01
    assert store.update(lambda state, now: state.reserve(now, 10)) == pytest.approx(1000.1)


def test_the_process_store_is_atomic_across_threads() -> None:
    store = ProcessStore()
    threads = [threading.Thread(target=lambda: [store.update(bump) for _ in range(500)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read(store).epoch == 4000


# -- this host --------------------------------------------------------------------------------------------------


def test_two_host_stores_of_one_key_share_the_state(clock: FakeClock, tmp_path: Path) -> None:
    one, other = HostStore(DIGEST, directory=tmp_path, clock=clock), HostStore(DIGEST, directory=tmp_path, clock=clock)
    assert one.update(lambda state, now: state.reserve(now, 10)) == 1000.0
    assert other.update(lambda state, now: state.reserve(now, 10)) == pytest.approx(1000.1)
    assert one.path == other.path


def test_other_keys_and_other_directories_have_their_own_state(clock: FakeClock, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    stored = HostStore(DIGEST, directory=tmp_path, clock=clock)
    stored.update(bump)
    assert read(HostStore(key_digest("other-key", "https://api.quo.com"), directory=tmp_path)).epoch == 0
    assert read(HostStore(DIGEST, directory=tmp_path / "elsewhere")).epoch == 0
    assert read(HostStore(DIGEST, directory=tmp_path)).epoch == 1


def test_the_state_file_holds_no_key_and_is_private(tmp_path: Path) -> None:
    store = HostStore(DIGEST, directory=tmp_path)
    store.update(bump)
    (path,) = tmp_path.iterdir()
    assert path == store.path
    assert KEY not in path.name
    assert KEY.encode() not in path.read_bytes()
    assert path.stat().st_mode & 0o077 == 0
    assert path.stat().st_size == 120


def test_the_default_directory_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "made"))
    store = HostStore(DIGEST)
    store.update(bump)
    assert store.path.parent == tmp_path / "made"
    assert (tmp_path / "made").stat().st_mode & 0o777 == 0o700


def test_a_corrupt_state_file_reads_as_fresh_and_is_repaired(clock: FakeClock, tmp_path: Path) -> None:
    store = HostStore(DIGEST, directory=tmp_path, clock=clock)
    store.path.write_bytes(b"\xff" * 150)
    assert store.update(bump) == 1
    assert store.update(bump) == 2, "the state written over the garbage is read back"
    assert store.path.stat().st_size == 120


def _bump_in_a_child(store: HostStore, times: int) -> None:
    for _ in range(times):
        store.update(bump)


def test_a_forked_child_shares_the_state_through_its_own_descriptor(tmp_path: Path) -> None:
    store = HostStore(DIGEST, directory=tmp_path)
    store.update(bump)  # the parent's descriptor is open before the fork
    child = multiprocessing.get_context("fork").Process(target=_bump_in_a_child, args=(store, 200))
    child.start()
    _bump_in_a_child(store, 200)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert read(store).epoch == 401, "no step of either process lost: one flock for both"


def test_processes_started_afresh_share_the_state(tmp_path: Path) -> None:
    """Two interpreters (as two Airflow tasks on a host), 200 steps each at once."""
    code = (
        "import sys; from pathlib import Path; from airflow_provider_quo.hooks.stores import HostStore\n"
        "store = HostStore(sys.argv[1], directory=Path(sys.argv[2]))\n"
        "for _ in range(200): store.update(lambda state, now: setattr(state, 'epoch', state.epoch + 1))\n"
    )
    command = [sys.executable, "-c", code, DIGEST, str(tmp_path)]
    children = [subprocess.Popen(command, cwd=REPO) for _ in range(2)]
    assert [child.wait(timeout=60) for child in children] == [0, 0]
    assert read(HostStore(DIGEST, directory=tmp_path)).epoch == 400


# -- every host: Redis -----------------------------------------------------------------------------------------


def redis_store(server: RedisServer, digest: str = DIGEST, clock: FakeClock | None = None) -> RedisStore:
    import redis

    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    return RedisStore(client, digest, fallback=ProcessStore(clock=clock or FakeClock()), shown_url=server.url)


def test_two_redis_stores_of_one_key_share_the_state(redis_server: RedisServer) -> None:
    one, other = redis_store(redis_server), redis_store(redis_server)
    first = one.update(lambda state, now: state.reserve(now, 10))
    assert other.update(lambda state, now: state.reserve(now, 10)) == pytest.approx(first + 0.1)
    assert read(redis_store(redis_server, key_digest("other-key", "https://api.quo.com"))).next_slot == -float("inf")


def test_redis_holds_one_key_per_budget_with_no_api_key_and_an_expiry(redis_server: RedisServer) -> None:
    import redis

    redis_store(redis_server).update(bump)
    client = redis.Redis.from_url(redis_server.url)
    assert client.keys("*") == [f"quo:budget:{DIGEST}".encode()]
    assert len(client.get(f"quo:budget:{DIGEST}") or b"") == 120
    assert 0 < client.ttl(f"quo:budget:{DIGEST}") <= stores.REDIS_TTL_SECONDS
    assert KEY.encode() not in client.get(f"quo:budget:{DIGEST}") or b""


def test_the_redis_store_runs_in_the_redis_servers_clock(redis_server: RedisServer) -> None:
    import redis

    seconds, micros = redis.Redis.from_url(redis_server.url).time()
    seen = redis_store(redis_server).update(lambda state, now: now)
    assert seconds + micros / 1e6 - 1 < seen < seconds + micros / 1e6 + 30, "the epoch seconds of Redis, not a host's"


def test_a_stale_view_is_retried_not_written_over(redis_server: RedisServer) -> None:
    one, other = redis_store(redis_server), redis_store(redis_server)
    assert one.update(bump) == 1
    assert other.update(bump) == 2  # ``one`` now holds a stale copy
    calls: list[float] = []

    def counted(state: BudgetState, now: float) -> float:
        calls.append(state.epoch)
        return bump(state, now)

    assert one.update(counted) == 3
    assert calls == [1, 2], "applied to the stale copy, refused by Redis, applied again to what Redis holds"


def test_the_compare_and_set_loses_no_step_under_contention(redis_server: RedisServer) -> None:
    workers = [redis_store(redis_server) for _ in range(4)]
    threads = [threading.Thread(target=lambda s=store: [s.update(bump) for _ in range(60)]) for store in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert read(redis_store(redis_server)).epoch == 240


def test_redis_down_falls_back_to_this_host_with_one_warning(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = redis_store(redis_server)
    store.update(bump)
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger=stores.log.name):
        assert [store.update(bump) for _ in range(3)] == [1, 2, 3], "the fallback's own state, nothing raised"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert f"Redis at {redis_server.url} failed (ConnectionError)" in warnings[0]
    assert read(store.fallback).epoch == 3


def test_redis_is_tried_again_and_one_outage_is_one_warning(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stores, "REDIS_RETRY_SECONDS", 0.0)  # every step tries Redis again
    store = redis_store(redis_server)
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger=stores.log.name):
        assert [store.update(bump) for _ in range(3)] == [1, 2, 3], "tried and failed: the fallback each time"
        with RedisServer(port=redis_server.port) as restarted:
            assert store.update(bump) == 1, "Redis again (a fresh server): its state, not the fallback's"
            restarted.stop()
            assert store.update(bump) == 4, "a second outage: the fallback again"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, "one warning per outage, not per try"


def test_redis_down_from_the_start_falls_back_without_raising(redis_server: RedisServer) -> None:
    redis_server.stop()
    store = redis_store(redis_server)
    assert store.update(lambda state, now: state.reserve(now, 10)) == 1000.0, "the fallback's fake clock"


# -- which store a hook uses ------------------------------------------------------------------------------------


def test_a_hook_shares_one_host_store_per_key_and_base_url() -> None:
    store = key_store(KEY, "https://api.quo.com", None)
    assert isinstance(store, HostStore)
    assert key_store(KEY, "https://api.quo.com", None) is store
    assert key_store(KEY, "https://api.openphone.com", None) is not store
    assert KEY not in repr(vars(store))


def test_a_rate_limit_url_gives_a_redis_store_without_connecting() -> None:
    url = "redis://:pw-Zx81@127.0.0.1:1/0"  # nothing listens there: building must not connect
    store = key_store(KEY, "https://api.quo.com", url)
    assert isinstance(store, RedisStore)
    assert store.shown_url == "redis://:***@127.0.0.1:1/0"
    assert isinstance(store.fallback, HostStore)
    assert key_store(KEY, "https://api.quo.com", None) is not store


def test_an_unwritable_state_directory_keeps_the_budget_in_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(STATE_DIR_ENV, str(blocker / "budget"))  # cannot be created under a file
    with caplog.at_level(logging.WARNING):
        store = key_store("key-unwritable-dir", "https://api.quo.com", None)
    assert isinstance(store, ProcessStore)
    assert any("sharing it in this process only" in r.getMessage() for r in caplog.records)


def test_a_rate_limit_url_without_the_redis_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(QuoError, match=r"needs the redis package") as caught:
        key_store(KEY, "https://api.quo.com", "redis://:pw-Zx81@127.0.0.1:1/0")
    assert "pw-Zx81" not in str(caught.value)
