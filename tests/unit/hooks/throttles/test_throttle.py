"""ProcessThrottle with a fake clock and sleep, and the process-wide shared_process_throttle."""

from __future__ import annotations

import itertools
import threading

import pytest

from airflow_provider_quo.hooks.throttles import process as throttle
from airflow_provider_quo.hooks.throttles.pacing import Pacing
from airflow_provider_quo.hooks.throttles.process import ProcessThrottle, shared_process_throttle

KEY = "test-key-Zq81xQ"


class FakeClock:
    """A clock that moves only when told to, or when the fake sleep sleeps."""

    def __init__(self, start: float = 500.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def limiter(rate: float, clock: FakeClock) -> ProcessThrottle:
    return ProcessThrottle(rate, clock=clock, sleep=clock.sleep)


def test_first_acquire_does_not_sleep(clock):
    assert limiter(10, clock).acquire() == 0
    assert clock.sleeps == []


def test_back_to_back_calls_are_spaced_by_one_over_rate(clock):
    rl = limiter(10, clock)
    waits = [rl.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert rl.interval == pytest.approx(0.1)


def test_spacing_with_a_clock_that_follows_sleep():
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleeps.append(seconds)
        clock.advance(seconds)

    rl = ProcessThrottle(4, clock=clock, sleep=sleep)
    starts = []
    for _ in range(6):
        rl.acquire()
        starts.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.25] * 5)


def test_no_sleep_when_idle_longer_than_interval(clock):
    rl = limiter(10, clock)
    rl.acquire()
    clock.advance(0.1)
    assert rl.acquire() == 0
    clock.advance(5)
    assert rl.acquire() == 0
    assert clock.sleeps == []


def test_partial_idle_sleeps_only_the_remainder(clock):
    rl = limiter(10, clock)
    rl.acquire()
    clock.advance(0.04)
    assert rl.acquire() == pytest.approx(0.06)


def test_idle_time_does_not_build_up_a_burst(clock):
    rl = limiter(10, clock)
    rl.acquire()
    clock.advance(60)
    waits = [rl.acquire() for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.1, 0.2])


def test_pause_pushes_the_next_slot(clock):
    rl = limiter(10, clock)
    rl.acquire()
    rl.pause(2.0)
    assert rl.acquire() == pytest.approx(2.0)
    assert rl.acquire() == pytest.approx(2.1)


def test_pause_moves_the_queue_back_by_what_it_overlaps():
    """Slots 1-4 are reserved when a pause until 2 begins: the caller of slot 1 wakes first, and moves the queue
    back by 1 (its spacing kept), so it goes at 2, not behind the whole queue; the next free slot is 6."""
    pacing = Pacing()
    slots = [pacing.reserve(0.0, 1.0) for _ in range(5)]
    assert slots == [0.0, 1.0, 2.0, 3.0, 4.0]
    pacing.pause(0.0, 2.0)
    assert [pacing.follow(slot, 0.0) for slot in slots[1:]] == [(2.0, 1.0), (3.0, 1.0), (4.0, 1.0), (5.0, 1.0)]
    assert pacing.reserve(0.0, 1.0) == 6.0


def test_a_pause_before_the_queue_moves_nothing_and_a_later_one_moves_it_again():
    pacing = Pacing()
    slots = [pacing.reserve(0.0, 1.0) for _ in range(4)]
    pacing.pause(0.0, 0.5)
    assert pacing.follow(slots[1], 0.0) == (1.0, 0.0)
    pacing.pause(1.0, 1.25)  # covers slot 2 (reserved before any move): the queue moves by 0.25
    assert pacing.follow(slots[2], 0.0) == (2.25, 0.25)
    assert pacing.follow(slots[3], 0.0) == (3.25, 0.25)
    assert pacing.reserve(1.0, 1.0) == 4.25


def test_pause_measured_from_now(clock):
    rl = limiter(10, clock)
    rl.pause(3.0)
    clock.advance(1.0)
    assert rl.acquire() == pytest.approx(2.0)
    clock.advance(10)
    assert rl.acquire() == 0


def test_pause_does_not_sleep_itself(clock):
    rl = limiter(10, clock)
    rl.pause(30)
    assert clock.sleeps == []


def test_thread_safety_slots_distinct_and_spaced(clock):
    rl = limiter(20, clock)
    n = 64
    waits: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n, timeout=10)

    def worker() -> None:
        barrier.wait()
        for _ in range(5):
            wait = rl.acquire()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads)

    slots = sorted(clock.now + w for w in waits)
    assert len(slots) == n * 5
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.05)
    assert max(gaps) == pytest.approx(0.05)
    assert sorted(waits) == pytest.approx([i * 0.05 for i in range(n * 5)])


def test_waiting_threads_do_not_hold_the_lock(clock):
    """A thread sleeping until its slot must not block other threads from reserving theirs."""
    entered = threading.Event()
    release = threading.Event()

    def blocking_sleep(seconds: float) -> None:
        entered.set()
        release.wait(timeout=10)

    rl = ProcessThrottle(10, clock=clock, sleep=blocking_sleep)
    rl.acquire()
    sleeper = threading.Thread(target=rl.acquire)
    sleeper.start()
    assert entered.wait(timeout=10)
    rl.pause(0)  # takes the lock: would deadlock if the sleeper held it
    assert rl._lock.acquire(timeout=5)
    rl._lock.release()
    release.set()
    sleeper.join(timeout=10)
    assert not sleeper.is_alive()


@pytest.mark.parametrize("rate", [0, -1, 0.0, float("nan")])
def test_invalid_rate(rate):
    with pytest.raises(ValueError, match="requests_per_second must be a positive number"):
        ProcessThrottle(rate)


def test_fractional_rate(clock):
    rl = limiter(0.5, clock)
    rl.acquire()
    assert rl.acquire() == pytest.approx(2.0)


def test_repr():
    assert repr(ProcessThrottle(10)) == "ProcessThrottle(rate=10/s)"


def test_shared_same_key_host_rate_is_same_object():
    a = shared_process_throttle(KEY, "https://api.quo.com", 10)
    assert shared_process_throttle(KEY, "https://api.quo.com", 10) is a
    assert shared_process_throttle(KEY, "https://api.quo.com", 10.0) is a
    assert a.rate == 10


@pytest.mark.parametrize(
    ("key", "host", "rate"),
    [
        ("other-key", "https://api.quo.com", 10),
        (KEY, "https://api.openphone.com", 10),
        (KEY, "https://api.quo.com", 20),
    ],
)
def test_shared_differs_by_key_host_or_rate(key, host, rate):
    base = shared_process_throttle(KEY, "https://api.quo.com", 10)
    other = shared_process_throttle(key, host, rate)
    assert other is not base
    assert other.rate == rate


def test_shared_key_host_boundary_is_unambiguous():
    assert shared_process_throttle("b", "https://a", 10) is not shared_process_throttle("", "https://ab", 10)


def test_shared_does_not_store_the_key():
    secret = "sk-very-secret-9f8e7d"
    found = shared_process_throttle(secret, "https://api.quo.com", 10)
    assert secret not in repr(throttle._shared)
    assert all(secret not in str(part) for key in throttle._shared for part in key)
    assert all(secret not in repr(value) for value in vars(found).values())
    assert secret not in repr(found)


def test_shared_is_thread_safe():
    results: list[ProcessThrottle] = []
    barrier = threading.Barrier(16, timeout=10)

    def get() -> None:
        barrier.wait()
        results.append(shared_process_throttle("race-key", "https://api.quo.com", 10))

    threads = [threading.Thread(target=get) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 16
    assert len({id(r) for r in results}) == 1


def test_shared_rejects_invalid_rate():
    with pytest.raises(ValueError, match="positive"):
        shared_process_throttle(KEY, "https://api.quo.com", 0)


def test_pause_during_a_wait_sends_the_waiting_caller_behind_the_pause() -> None:
    """A 429 seen by one thread holds back a thread that had already reserved an earlier slot."""
    clock = [0.0]
    sleeps: list[float] = []
    limiter: ProcessThrottle

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:  # while this caller sleeps towards its slot, another thread sees a 429
            limiter.pause(5.0)
        clock[0] += seconds

    limiter = ProcessThrottle(10, clock=lambda: clock[0], sleep=sleep)
    limiter.acquire()  # slot 0.0
    limiter.acquire()  # slot 0.1: sleeps 0.1, a pause to 5.0 starts meanwhile, so it queues again
    assert clock[0] >= 5.0
    assert sleeps[0] == pytest.approx(0.1)


def test_a_slot_already_after_the_pause_is_kept() -> None:
    """Only callers whose slot falls inside a new pause queue again; later slots are not wasted."""
    clock = [0.0]
    sleeps: list[float] = []
    limiter: ProcessThrottle

    def sleep(seconds: float) -> None:
        if not sleeps:
            limiter.pause(0.05)  # a 429 elsewhere, pausing until 0.05: this caller's slot is at 0.1
        sleeps.append(seconds)
        clock[0] += seconds

    limiter = ProcessThrottle(10, clock=lambda: clock[0], sleep=sleep)
    limiter.acquire()  # slot 0.0, no wait
    waited = limiter.acquire()  # slot 0.1, already after the pause: kept
    assert waited == pytest.approx(0.1)
    assert sleeps == [pytest.approx(0.1)]


def test_a_queue_given_up_for_a_fallen_rate_is_not_moved_by_the_pause_that_came_with_it():
    """The rate fell (say, another client of the key showed up) with a pause: the slots queued at the old rate
    are given up, new ones start when the pause ends, and no waking caller of the old queue moves them later."""
    pacing = Pacing()
    old = [pacing.reserve(0.0, 0.1) for _ in range(10)]  # slots 0.0-0.9 at the old rate; next free 1.0
    pacing.pause(0.0, 0.45)
    pacing.rewind(0.0)
    assert pacing.next_slot == pytest.approx(0.45)
    assert pacing.follow(old[1], 0.0) == (old[1], 0.0)  # covered by the pause: it queues again (see acquire)
    assert pacing.reserve(0.2, 0.25) == pytest.approx(0.45)
