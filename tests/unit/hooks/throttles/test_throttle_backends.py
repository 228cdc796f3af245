"""The key's budget across backends, with fake clocks: AIMD after 429s, the host state file, the task cap,
the factory, stopping a wait, and the Redis backend's fallback (a fake client; the real server is in
``tests/integration/test_key_budget.py``)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import redis

from airflow_provider_quo.exceptions import QuoNotSentError
from airflow_provider_quo.hooks import throttles as throttle
from airflow_provider_quo.hooks.throttles import CappedThrottle, build_throttle, pacing
from airflow_provider_quo.hooks.throttles.host import HostThrottle
from airflow_provider_quo.hooks.throttles.pacing import Pacing
from airflow_provider_quo.hooks.throttles.process import ProcessThrottle, key_digest
from airflow_provider_quo.hooks.throttles.redis import RedisThrottle

KEY = "sk-budget-secret-4Fq9"
DIGEST = key_digest(KEY, "https://api.quo.com")


class Clock:
    """A clock that moves only when the fake sleep sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def host(clock: Clock, folder: Path, rate: float = 10, digest: str = DIGEST) -> HostThrottle:
    return HostThrottle(rate, digest, clock=clock, sleep=clock.sleep, directory=folder)


# -- AIMD --------------------------------------------------------------------------------------------


def test_slow_down_halves_the_rate_then_it_recovers_linearly() -> None:
    state = Pacing()
    state.slow_down(10.0)
    assert state.current_share(10.0) == pytest.approx(0.5)
    assert state.current_share(15.0) == pytest.approx(0.5 + 5 * pacing.RECOVERY_PER_SECOND)
    assert state.current_share(1000.0) == 1.0


def test_429s_close_together_count_once_and_the_share_has_a_floor() -> None:
    state = Pacing()
    state.slow_down(10.0)
    state.slow_down(10.5)  # the other requests that were already on the wire
    assert state.current_share(10.5) == pytest.approx(0.5 + 0.5 * pacing.RECOVERY_PER_SECOND)
    for second in range(12, 40, 3):
        state.slow_down(float(second))
    assert state.share == pacing.MIN_SHARE


def test_slow_down_widens_the_spacing_of_later_slots(clock: Clock) -> None:
    limiter = ProcessThrottle(10, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.slow_down()
    starts = []
    for _ in range(3):
        limiter.acquire()
        starts.append(clock.now)
    assert starts[1] - starts[0] == pytest.approx(0.2, abs=0.01)  # half the rate, recovering slowly


# -- stopping a wait ---------------------------------------------------------------------------------


def test_a_set_stop_event_sends_nothing_and_reserves_nothing(clock: Clock) -> None:
    limiter = ProcessThrottle(10, clock=clock, sleep=clock.sleep)
    stop = threading.Event()
    stop.set()
    with pytest.raises(QuoNotSentError, match="not sent"):
        limiter.acquire(stop)
    assert limiter.acquire() == 0  # the first slot is still free


def test_a_stop_during_the_wait_ends_it_without_a_slot(clock: Clock) -> None:
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        stop.set()  # a 401 arrives elsewhere while this caller waits
        clock.sleep(seconds)

    limiter = ProcessThrottle(10, clock=clock, sleep=sleep)
    limiter.acquire()
    with pytest.raises(QuoNotSentError):
        limiter.acquire(stop)


def test_the_real_wait_ends_as_soon_as_the_stop_is_set() -> None:
    limiter = ProcessThrottle(0.001)  # the second slot is 1,000 s away
    limiter.acquire()
    stop = threading.Event()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            limiter.acquire(stop)
        except QuoNotSentError as error:
            errors.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    stop.set()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert len(errors) == 1


# -- host backend --------------------------------------------------------------------------------------


def test_two_host_throttles_of_one_key_share_the_slots(clock: Clock, tmp_path: Path) -> None:
    """Two instances stand for two processes: one state file, so their slots interleave."""
    first, second = host(clock, tmp_path), host(clock, tmp_path)
    waits = [first.acquire(), second.acquire(), first.acquire(), second.acquire()]
    assert waits == pytest.approx([0.0, 0.1, 0.1, 0.1])  # each waits one interval after the one before
    assert clock.now == pytest.approx(100.3)


def test_a_pause_and_a_slow_down_in_one_process_hold_back_the_other(clock: Clock, tmp_path: Path) -> None:
    first, second = host(clock, tmp_path), host(clock, tmp_path)
    first.acquire()
    first.pause(3.0)
    first.slow_down()
    assert second.acquire() == pytest.approx(3.0)
    assert second.acquire() == pytest.approx(0.2, abs=0.01)  # the halved rate is shared too


def test_other_keys_have_their_own_budget(clock: Clock, tmp_path: Path) -> None:
    first, other = host(clock, tmp_path), host(clock, tmp_path, digest=key_digest("other", "https://api.quo.com"))
    first.acquire()
    assert other.acquire() == 0


def test_the_state_file_holds_no_key(clock: Clock, tmp_path: Path) -> None:
    host(clock, tmp_path).acquire()
    files = list(tmp_path.iterdir())
    assert files
    assert all(KEY not in f.name and KEY.encode() not in f.read_bytes() for f in files if f.is_file())


def test_a_state_far_in_the_future_is_a_leftover_and_ignored(clock: Clock, tmp_path: Path) -> None:
    stale = host(clock, tmp_path)
    stale.acquire()
    stale.pause(1e6)  # e.g. written with another boot's clock
    assert host(clock, tmp_path).acquire() == 0


# -- task cap and factory ----------------------------------------------------------------------------


def test_a_task_cap_spaces_the_task_and_takes_from_the_key(clock: Clock, tmp_path: Path) -> None:
    key = host(clock, tmp_path, rate=10)
    capped = CappedThrottle(key, ProcessThrottle(2, clock=clock, sleep=clock.sleep))
    assert capped.rate == 2
    capped.acquire()
    assert capped.acquire() == pytest.approx(0.5)
    assert key.acquire() == pytest.approx(0.1)  # another task's request: the key saw this task's slots


def test_factory_shares_one_throttle_per_key_and_caps_only_below_the_budget() -> None:
    shared = build_throttle(KEY, "https://api.quo.com", 10)
    assert isinstance(shared, HostThrottle)
    assert build_throttle(KEY, "https://api.quo.com", 10) is shared
    assert build_throttle(KEY, "https://api.quo.com", 10, task_rate=20) is shared
    capped = build_throttle(KEY, "https://api.quo.com", 10, task_rate=4)
    assert isinstance(capped, CappedThrottle)
    assert capped.key is shared
    assert capped.rate == 4
    assert KEY not in repr(capped)
    assert all(KEY not in str(part) for key in throttle._throttles for part in key)


def test_factory_builds_the_redis_backend_without_connecting() -> None:
    url = "redis://:pw-Zx81@127.0.0.1:1/0"  # nothing listens there: building must not connect
    built = build_throttle(KEY, "https://api.quo.com", 10, rate_limit_url=url)
    assert isinstance(built, RedisThrottle)
    assert built.shown_url == "redis://:***@127.0.0.1:1/0"
    assert "pw-Zx81" not in repr(vars(built))


# -- Redis backend fallback ------------------------------------------------------------------------------


class BrokenRedis:
    """A client whose every command fails the way a stopped (or, with ``slow``, a stalled) server does."""

    calls = 0

    def __init__(self, slow: bool = False) -> None:
        self.slow = slow

    def register_script(self, _script: str) -> object:
        def run(**_kwargs: object) -> list[str]:
            BrokenRedis.calls += 1
            if self.slow:
                raise redis.exceptions.TimeoutError("Timeout reading from 127.0.0.1:1")
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

        return run


def test_redis_failing_falls_back_to_this_hosts_share_with_one_warning(
    clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("QUO_THROTTLE_DIR", str(tmp_path))
    host(clock, tmp_path).remember_hosts(2)  # two hosts were sharing the key when Redis was last seen
    throttle_ = RedisThrottle(
        10, DIGEST, BrokenRedis(), shown_url="redis://:***@r:6379/0", clock=clock, sleep=clock.sleep
    )
    with caplog.at_level(logging.WARNING):
        waits = [throttle_.acquire() for _ in range(3)]
        throttle_.pause(1.0)
    assert waits == pytest.approx([0.0, 0.2, 0.2])  # 10/s over 2 hosts
    warnings = [r.getMessage() for r in caplog.records if "Rate-limit server" in r.getMessage()]
    assert len(warnings) == 1
    assert "redis://:***@r:6379/0 failed (ConnectionError)" in warnings[0]
    assert "5 requests/s" in warnings[0]
    calls = BrokenRedis.calls
    clock.now += 10  # past the retry interval: Redis is tried again, once per acquire until it answers
    throttle_.acquire()
    assert BrokenRedis.calls == calls + 1


def test_a_slow_redis_falls_back_too(clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setenv("QUO_THROTTLE_DIR", str(tmp_path))
    slow = RedisThrottle(10, DIGEST, BrokenRedis(slow=True), shown_url="redis://r", clock=clock, sleep=clock.sleep)
    with caplog.at_level(logging.WARNING):
        assert [slow.acquire(), slow.acquire()] == pytest.approx([0.0, 0.1])  # one host: the whole budget
    assert any("redis://r failed (TimeoutError)" in r.getMessage() for r in caplog.records)


def test_an_unwritable_state_directory_falls_back_to_the_process_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("QUO_THROTTLE_DIR", str(blocker / "throttle"))  # cannot be created under a file
    with caplog.at_level(logging.WARNING):
        built = build_throttle("key-unwritable-dir", "https://api.quo.com", 10)
    assert isinstance(built, ProcessThrottle)
    assert any("sharing it only within this process" in r.getMessage() for r in caplog.records)
