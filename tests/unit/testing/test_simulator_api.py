"""The Quo simulator's Python API, seed data, records, stats, concurrency, CLI and pytest plugin."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_quo.testing import QuoSimulator, RecordedRequest
from airflow_provider_quo.testing.__main__ import build_parser, simulator_from_args

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
KEY = "test-key"


@pytest.fixture
def sim() -> Iterator[QuoSimulator]:
    with QuoSimulator(api_key=KEY, conversations=200, phone_numbers=4, seed=5, now=NOW) as simulator:
        yield simulator


def ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- seed data -----------------------------------------------------------------------------------


def test_seed_data_is_plausible(sim: QuoSimulator) -> None:
    numbers = {n["id"]: n["number"] for n in sim.phone_numbers}
    assert len(numbers) == 4
    conversations = [sim.conversation(cid) for cid in sim.conversation_ids()]
    assert len(conversations) == 200
    for c in conversations:
        assert re.fullmatch(r"CN[A-Za-z0-9]{30}", c["id"])
        assert c["phoneNumberId"] in numbers
        assert all(re.fullmatch(r"\+[1-9]\d{1,14}", p) for p in c["participants"])
        assert c["assignedTo"] is None or c["assignedTo"] in sim.user_ids
        created, activity, updated = ts(c["createdAt"]), ts(c["lastActivityAt"]), ts(c["updatedAt"])
        assert created is not None
        assert updated is not None
        assert created <= (activity or created) <= updated <= NOW
        if activity is not None:
            assert NOW - timedelta(days=121) <= activity
            assert c["lastActivityId"].startswith("AC")
    assert sum(c["lastActivityAt"] is None for c in conversations) == 6
    assert len(sim.conversation_ids(deleted=True)) == 10
    assert len(sim.conversation_ids(snoozed=True)) == 10
    assert len(sim.conversation_ids(muted=True)) == 10
    assert all(ts(sim.conversation(cid)["snoozedUntil"]) > NOW for cid in sim.conversation_ids(snoozed=True))  # type: ignore[operator]
    assert len(sim.conversation_ids(read=False)) == 200
    assert 1 < len({c["assignedTo"] for c in conversations}) <= 5


def test_seed_data_is_deterministic() -> None:
    def snapshot(seed: int) -> list[dict[str, object]]:
        simulator = QuoSimulator(conversations=20, seed=seed, now=NOW)  # not started: the data exists already
        return [simulator.conversation(cid) for cid in simulator.conversation_ids()]

    assert snapshot(1) == snapshot(1)
    assert snapshot(1) != snapshot(2)


def test_default_now_is_the_real_time() -> None:
    simulator = QuoSimulator(conversations=10)
    assert abs(simulator.now() - datetime.now(timezone.utc)) < timedelta(seconds=5)
    latest = ts(simulator.conversation(simulator.conversation_ids()[0])["lastActivityAt"])
    assert latest is not None
    assert latest <= simulator.now()


def test_clock_advances_from_now(sim: QuoSimulator) -> None:
    assert NOW <= sim.now() < NOW + timedelta(minutes=1)


# -- Python API ----------------------------------------------------------------------------------


def test_conversation_and_state_of_unknown_ids(sim: QuoSimulator) -> None:
    with pytest.raises(KeyError):
        sim.conversation("CNnope")
    with pytest.raises(KeyError):
        sim.state("CNnope")
    with pytest.raises(TypeError):
        sim.conversation_ids(unread=True)


def test_add_conversation(sim: QuoSimulator) -> None:
    newest = sim.add_conversation("CNnewest", last_activity_at=NOW + timedelta(seconds=1), assigned_to="USme")
    assert newest["id"] == "CNnewest"
    assert newest["lastActivityAt"] == "2026-11-01T00:00:01.000Z"
    assert newest["phoneNumberId"] == sim.phone_numbers[0]["id"]
    assert sim.conversation_ids()[0] == "CNnewest"
    blank = sim.add_conversation()
    assert blank["lastActivityAt"] is None
    assert blank["id"].startswith("CN")
    assert blank["id"] in sim.conversation_ids()[-7:]  # 6 seeded nulls and this one, last
    gone = sim.add_conversation(deleted=True, last_activity_at="2026-10-01T00:00:00Z")
    assert gone["deletedAt"] is not None
    assert gone["id"] in sim.conversation_ids(deleted=True)
    snoozed = sim.add_conversation(snoozed_until=NOW + timedelta(days=1), muted_until="2026-12-01T00:00:00+01:00")
    assert snoozed["id"] in sim.conversation_ids(snoozed=True, muted=True)
    assert snoozed["mutedUntil"] == "2026-11-30T23:00:00.000Z"
    done = sim.add_conversation(read=True, done=True, phone_number_id=sim.phone_numbers[1]["id"])
    assert sim.state(done["id"]) == {"read": True, "done": True, "mark_calls": 0}
    assert done["id"] in sim.read_ids() & sim.done_ids()
    with pytest.raises(ValueError, match="invalid or already exists"):
        sim.add_conversation("CNnewest")
    with pytest.raises(ValueError, match="invalid or already exists"):
        sim.add_conversation("XXbad")
    body = requests.get(
        sim.base_url + "/v1/conversations", params={"userId": "USme"}, headers={"Authorization": KEY}, timeout=5
    ).json()
    assert [c["id"] for c in body["data"]] == ["CNnewest"]


def test_connection_json(sim: QuoSimulator) -> None:
    conn = json.loads(sim.connection_json({"requests_per_second": 1000}))
    assert conn == {
        "conn_type": "quo",
        "password": KEY,
        "host": sim.base_url,
        "extra": {"requests_per_second": 1000},
    }
    assert json.loads(sim.connection_json())["extra"] == {}
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url)


def test_lifecycle() -> None:
    simulator = QuoSimulator(conversations=1)
    assert not simulator.running
    with pytest.raises(RuntimeError):
        _ = simulator.base_url
    assert simulator.start() is simulator
    assert simulator.start() is simulator  # idempotent
    url = simulator.base_url
    assert requests.get(url + "/_simulator/stats", timeout=5).ok
    simulator.stop()
    simulator.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/_simulator/stats", timeout=5)
    with pytest.raises(ValueError, match="api_key"):
        QuoSimulator(api_key="")


def test_fixed_port() -> None:
    with QuoSimulator(conversations=1, port=0) as first:
        port = first.port
    with QuoSimulator(conversations=1, port=port) as second:
        assert second.base_url.endswith(f":{port}")


# -- records and stats ---------------------------------------------------------------------------


def test_requests_are_recorded_with_raw_paths(sim: QuoSimulator) -> None:
    session = requests.Session()
    session.headers["Authorization"] = KEY
    number = sim.phone_numbers[0]["number"]
    session.get(sim.base_url + "/v1/conversations", params=[("maxResults", "3"), ("phoneNumbers", number)])
    session.post(sim.base_url + "/v1/conversations/CN%2Fx%20y/mark-as-read")
    session.get(sim.base_url + "/_simulator/stats")
    requests.get(sim.base_url + "/v1/phone-numbers", timeout=5)
    records = sim.requests
    assert [r.status for r in records] == [200, 404, 401]
    first, second, third = records
    assert isinstance(first, RecordedRequest)
    assert first.method == "GET"
    assert first.raw_path == first.path == "/v1/conversations"
    assert first.query == [("maxResults", "3"), ("phoneNumbers", number)]
    assert first.raw_query == f"maxResults=3&phoneNumbers=%2B{number[1:]}"
    assert first.authorized
    assert first.fault is None
    assert first.endpoint == "GET /v1/conversations"
    assert second.raw_path == "/v1/conversations/CN%2Fx%20y/mark-as-read"
    assert second.path == "/v1/conversations/CN/x y/mark-as-read"
    assert second.endpoint == "POST /v1/conversations/{id}/mark-as-read"
    assert not third.authorized
    records.clear()  # a copy
    assert len(sim.requests) == 3
    assert sim.request_count() == 3
    assert sim.request_count(method="get") == 2
    assert sim.request_count(path_prefix="/v1/conversations") == 2
    assert sim.request_count(path_prefix="/v1/conversations/CN%2F") == 1
    assert sim.request_count(status=401) == 1
    assert sim.request_count(method="POST", status=200) == 0


def test_stats_endpoint(sim: QuoSimulator) -> None:
    session = requests.Session()
    session.headers["Authorization"] = KEY
    cid = sim.conversation_ids(deleted=False)[0]
    session.post(f"{sim.base_url}/v1/conversations/{cid}/mark-as-read")
    session.post(f"{sim.base_url}/v1/conversations/{cid}/mark-as-done")
    sim.fail_next(1, "503")
    session.get(sim.base_url + "/v1/conversations")
    stats = session.get(sim.base_url + "/_simulator/stats").json()
    assert stats == sim.stats()
    assert stats["requests"]["total"] == 3
    assert stats["requests"]["by_endpoint"] == {
        "GET /v1/conversations": {"503": 1},
        "POST /v1/conversations/{id}/mark-as-done": {"200": 1},
        "POST /v1/conversations/{id}/mark-as-read": {"200": 1},
    }
    assert stats["requests"]["by_status"] == {"200": 2, "503": 1}
    assert stats["requests"]["faults"] == {"503": 1}
    assert stats["conversations"]["read"] == 1
    assert stats["conversations"]["done"] == 1
    assert stats["conversations"]["total"] == 200
    sim.reset_stats()
    assert sim.requests == []
    assert sim.max_in_flight == 0
    assert sim.stats()["conversations"]["read"] == 1  # state is kept


def test_max_in_flight_with_concurrent_clients() -> None:
    with QuoSimulator(api_key=KEY, conversations=10, latency=0.05) as simulator:
        start = threading.Barrier(8)
        codes: list[int] = []

        def client() -> None:
            start.wait()
            response = requests.get(simulator.base_url + "/v1/phone-numbers", headers={"Authorization": KEY})
            codes.append(response.status_code)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert codes == [200] * 8
        assert 4 <= simulator.max_in_flight <= 8
        assert all(r.duration >= 0.05 for r in simulator.requests)
        assert simulator.stats()["in_flight"] == 0


# -- ways to start it ----------------------------------------------------------------------------


def test_pytest_plugin_fixtures(quo_connection: QuoSimulator) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_QUO_DEFAULT"])
    assert conn["host"] == quo_connection.base_url
    assert conn["extra"] == {"requests_per_second": 1000}
    assert requests.get(quo_connection.base_url + "/v1/phone-numbers", headers={"Authorization": "test-key"}).ok


def test_quo_hook_against_the_simulator(quo_connection: QuoSimulator) -> None:
    from airflow_provider_quo.hooks.quo import QuoHook

    quo_connection.fail_next(2, "503")
    hook = QuoHook()
    assert hook.test_connection()[0] is False  # no retries there: the 503
    ids = [c["id"] for c in hook.iter_conversations(page_size=9, exclude_inactive=True)]
    assert ids == quo_connection.conversation_ids(deleted=False)
    outcomes = list(hook.mark_conversations(ids, "read"))
    assert all(outcome.error is None for outcome in outcomes)
    assert quo_connection.read_ids() == set(ids)
    assert quo_connection.request_count(status=503) == 2


def test_quo_simulator_fixture_has_the_defaults(quo_simulator: QuoSimulator) -> None:
    assert quo_simulator.running
    assert len(quo_simulator.conversation_ids()) == 50
    assert len(quo_simulator.phone_numbers) == 3
    assert quo_simulator.api_key == "test-key"


def test_cli_options_build_the_simulator() -> None:
    args = build_parser().parse_args(
        [
            *("--port", "0", "--api-key", "K", "--conversations", "7", "--seed", "1", "--rate-limit", "10"),
            *("--latency", "0.05", "--error-rate", "0.1", "--kinds", "500,drop", "--error-body", "nested"),
            *("--retry-after", "2", "--now", "2026-01-01T00:00:00Z"),
        ]
    )
    simulator = simulator_from_args(args)
    assert simulator.api_key == "K"
    assert len(simulator.conversation_ids()) == 7
    assert simulator.rate_limit == 10
    assert simulator.latency == 0.05
    assert simulator.faults.kinds == ("500", "drop")
    assert simulator.faults.error_body == "nested"
    assert simulator.faults.retry_after == 2
    assert simulator.now() >= datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_cli_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "airflow_provider_quo.testing", "--port", "0", "--api-key", "K"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split()[-1]
        assert first.startswith("Quo simulator listening on http://127.0.0.1:")
        conn_line = process.stdout.readline().strip()
        assert conn_line.startswith("AIRFLOW_CONN_QUO_DEFAULT=")
        assert json.loads(conn_line.split("=", 1)[1].strip("'"))["host"] == url
        assert requests.get(url + "/v1/phone-numbers", headers={"Authorization": "K"}, timeout=5).ok
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_importing_the_simulator_and_plugin_does_not_import_airflow() -> None:
    code = (
        "import sys, airflow_provider_quo.testing, airflow_provider_quo.testing.pytest_plugin, "
        "airflow_provider_quo.testing.__main__; "
        "assert not [m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')], 'airflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
