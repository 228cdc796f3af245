"""The Quo simulator's fault injection, hostile responses and rate limit (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from airflow_provider_quo.testing import ERROR_KINDS, HOSTILE_KINDS, Faults, QuoSimulator
from airflow_provider_quo.testing.ratelimit import TokenBuckets

pytestmark = pytest.mark.integration

KEY = "test-key"
LIST = "/v1/conversations"


@pytest.fixture
def sim() -> Iterator[QuoSimulator]:
    with QuoSimulator(api_key=KEY, conversations=20, seed=3) as simulator:
        yield simulator


def get(sim: QuoSimulator, path: str = LIST, timeout: float = 5) -> requests.Response:
    return requests.get(sim.base_url + path, headers={"Authorization": KEY}, timeout=timeout)


def mark(sim: QuoSimulator, cid: str, action: str = "read") -> requests.Response:
    return requests.post(f"{sim.base_url}/v1/conversations/{cid}/mark-as-{action}", headers={"Authorization": KEY})


@pytest.mark.parametrize(("kind", "code"), [("500", "1001500"), ("502", "1001502"), ("503", "1001503")])
def test_scripted_server_errors_with_json_body(sim: QuoSimulator, kind: str, code: str) -> None:
    sim.fail_next(2, kind)
    for _ in range(2):
        response = get(sim)
        assert response.status_code == int(kind)
        body = response.json()
        assert body["code"] == code
        assert body["status"] == int(kind)
        assert body["trace"]
    assert get(sim).status_code == 200
    assert [r.fault for r in sim.requests] == [kind, kind, None]


def test_fault_429_with_retry_after(sim: QuoSimulator) -> None:
    sim.faults = Faults(retry_after=3)
    sim.fail_next(1, "429")
    response = get(sim)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    sim.faults = Faults(retry_after=0.25)
    sim.fail_next(1, "429")
    assert get(sim).headers["Retry-After"] == "0.25"
    sim.faults = Faults()
    sim.fail_next(1, "429")
    assert "Retry-After" not in get(sim).headers


def test_error_body_variants(sim: QuoSimulator) -> None:
    sim.faults = Faults(error_body="nested")
    sim.fail_next(1, "500")
    nested = get(sim).json()["error"]
    assert set(nested) == {"message", "key", "trace"}

    sim.faults = Faults(error_body="html")
    sim.fail_next(1, "502")
    html = get(sim)
    assert html.status_code == 502
    assert html.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in html.text
    with pytest.raises(requests.JSONDecodeError):
        html.json()

    sim.faults = Faults(error_body="empty")
    sim.fail_next(1, "503")
    empty = get(sim)
    assert empty.status_code == 503
    assert empty.content == b""


def test_drop_closes_the_connection_without_a_response(sim: QuoSimulator) -> None:
    sim.fail_next(1, "drop")
    with pytest.raises(requests.ConnectionError):
        get(sim)
    assert sim.requests[-1].status is None
    assert sim.requests[-1].fault == "drop"
    assert sim.stats()["requests"]["by_status"] == {"dropped": 1}
    assert get(sim).status_code == 200


def test_slow_times_out_a_client_then_answers_normally(sim: QuoSimulator) -> None:
    sim.faults = Faults(slow_seconds=0.3)
    sim.fail_next(1, "slow")
    with pytest.raises(requests.ReadTimeout):
        get(sim, timeout=0.05)
    sim.faults = Faults(slow_seconds=0.02)
    sim.fail_next(1, "slow", path_contains="mark-as-read")
    cid = sim.conversation_ids(deleted=False)[0]
    response = mark(sim, cid)
    assert response.status_code == 200  # "slow" is a delay, not a failure: the mark happened
    assert sim.state(cid)["read"] is True
    assert sim.requests[-1].fault == "slow"
    assert sim.requests[-1].duration >= 0.02


@pytest.mark.parametrize("kind", ["500", "502", "503", "429", "drop", *(k for k in HOSTILE_KINDS if k != "drip")])
def test_faulted_marks_do_not_mark(sim: QuoSimulator, kind: str) -> None:
    sim.faults = Faults(huge_bytes=1000, bomb_bytes=100_000)
    cid = sim.conversation_ids(deleted=False)[0]
    sim.fail_next(1, kind, path_contains=cid)
    try:
        mark(sim, cid, "done")
    except requests.ConnectionError:
        assert kind == "drop"
    assert sim.state(cid) == {"read": False, "done": False, "mark_calls": 0}
    assert mark(sim, cid, "done").status_code == 200
    assert sim.state(cid)["done"] is True


def test_path_contains_only_hits_matching_requests(sim: QuoSimulator) -> None:
    sim.fail_next(2, "503", path_contains="mark-as-done")
    cid = sim.conversation_ids(deleted=False)[1]
    assert get(sim).status_code == 200
    assert mark(sim, cid, "read").status_code == 200
    assert [mark(sim, cid, "done").status_code for _ in range(3)] == [503, 503, 200]


def test_faults_come_before_auth(sim: QuoSimulator) -> None:
    sim.fail_next(1, "502")
    response = requests.get(sim.base_url + LIST, timeout=5)
    assert response.status_code == 502
    assert sim.requests[-1].authorized is False
    assert requests.get(sim.base_url + LIST, timeout=5).status_code == 401


def test_error_rate_is_reproducible_for_a_seed() -> None:
    def statuses(seed: int) -> list[int]:
        faults = Faults(error_rate=0.4, kinds=("500", "503", "429"))
        with QuoSimulator(api_key=KEY, conversations=5, seed=seed, faults=faults) as simulator:
            return [get(simulator).status_code for _ in range(30)]

    first = statuses(11)
    assert first == statuses(11)
    assert set(first) == {200, 500, 503, 429}
    assert first != statuses(12)


def test_error_rate_one_answers_everything_with_the_kinds(sim: QuoSimulator) -> None:
    sim.faults = Faults(error_rate=1.0, kinds=("502",))
    assert {get(sim).status_code for _ in range(5)} == {502}
    sim.faults = Faults()
    assert get(sim).status_code == 200


def test_hostile_responses(sim: QuoSimulator) -> None:
    sim.faults = Faults(hostile="malformed_json")
    response = get(sim)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)

    sim.faults = Faults(hostile="huge")
    huge = get(sim)
    assert huge.status_code == 200
    assert len(huge.content) > 4_000_000

    sim.faults = Faults(hostile="wrong_content_type")
    page = get(sim)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")

    sim.faults = Faults(hostile="html_error")
    error = get(sim)
    assert error.status_code == 500
    assert error.headers["Content-Type"].startswith("text/html")
    assert sim.request_count(status=200) == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"error_rate": 1.5},
        {"kinds": ("404",)},
        {"error_rate": 0.5, "kinds": ()},
        {"error_body": "xml"},
        {"hostile": "500"},
        {"retry_after": -1},
        {"slow_seconds": -1},
    ],
)
def test_invalid_faults(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Faults(**kwargs)  # type: ignore[arg-type]


def test_invalid_fail_next(sim: QuoSimulator) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        sim.fail_next(1, "418")
    with pytest.raises(ValueError, match="n must be"):
        sim.fail_next(-1, "500")
    assert set(ERROR_KINDS) == {"500", "502", "503", "429", "drop", "slow"}


def test_rate_limit_token_bucket() -> None:
    """Over HTTP: a spent bucket answers 429. At 0.01/s (capacity 1) no token comes back within the test, however
    slow the machine (the refill, on a fake clock: ``test_token_bucket_refill_with_a_fake_clock``)."""
    with QuoSimulator(api_key=KEY, conversations=5, rate_limit=0.01, faults=Faults(retry_after=1)) as simulator:
        session = requests.Session()
        session.headers["Authorization"] = KEY
        statuses = [session.get(simulator.base_url + LIST, timeout=5).status_code for _ in range(8)]
        assert statuses == [200] + [429] * 7  # capacity max(rate, 1) = 1
        limited = [r for r in simulator.requests if r.status == 429]
        assert {r.fault for r in limited} == {"rate_limit"}
        response = session.get(simulator.base_url + LIST, timeout=5)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "1"
        assert response.json()["status"] == 429
        assert requests.get(simulator.base_url + "/_simulator/stats", timeout=5).status_code == 200
        assert requests.get(simulator.base_url + LIST, timeout=5).status_code == 401  # bad keys use no tokens
        simulator.rate_limit = None
        assert session.get(simulator.base_url + LIST, timeout=5).status_code == 200


def test_rate_limit_answers_429_once_the_bucket_is_empty(sim: QuoSimulator) -> None:
    """Over HTTP: a full bucket's worth of 200s, then a 429 (one token per 0.33 s cannot keep up with a burst;
    the refill itself is timed on a fake clock below)."""
    sim.rate_limit = 3
    session = requests.Session()
    session.headers["Authorization"] = KEY
    codes: list[int] = []
    while 429 not in codes and len(codes) < 200:
        codes.append(session.get(sim.base_url + LIST, timeout=5).status_code)
    assert codes[:3] == [200] * 3
    assert codes[-1] == 429


def test_token_bucket_refill_with_a_fake_clock() -> None:
    now = [0.0]
    buckets = TokenBuckets(2.0, clock=lambda: now[0])
    assert [buckets.allow("k") for _ in range(3)] == [True, True, False]
    assert buckets.allow("other")  # one bucket per key
    now[0] += 0.25
    assert not buckets.allow("k")  # half a token
    now[0] += 0.25
    assert buckets.allow("k")
    now[0] += 100
    assert [buckets.allow("k") for _ in range(3)] == [True, True, False]  # capped at capacity
    slow = TokenBuckets(0.5, clock=lambda: now[0])
    assert slow.capacity == 1.0
    assert [slow.allow("k"), slow.allow("k")] == [True, False]
    now[0] += 2
    assert slow.allow("k")
    with pytest.raises(ValueError, match="rate_limit"):
        TokenBuckets(0)
    assert TokenBuckets(None).allow("k")
