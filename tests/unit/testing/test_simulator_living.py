"""The simulator as a living workspace (clock, messages, snoozes, days of activity) and its answers to odd requests."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_quo.testing import QuoSimulator

NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)
KEY = "test-key"


@pytest.fixture
def sim() -> QuoSimulator:
    with QuoSimulator(api_key=KEY, conversations=200, seed=4, now=NOW) as simulator:
        yield simulator


def mark_read(sim: QuoSimulator, conversation_id: str) -> None:
    url = f"{sim.base_url}/v1/conversations/{conversation_id}/mark-as-read"
    assert requests.post(url, headers={"Authorization": KEY}, timeout=5).status_code == 200


def test_the_clock_can_be_set_and_advanced_but_not_moved_back(sim: QuoSimulator) -> None:
    sim.set_now("2027-03-01T12:00:00Z")
    assert abs(sim.now() - datetime(2027, 3, 1, 12, tzinfo=timezone.utc)) < timedelta(seconds=5)
    moved = sim.advance(timedelta(days=2))
    assert moved - datetime(2027, 3, 3, 12, tzinfo=timezone.utc) < timedelta(seconds=5)
    assert sim.advance(3600) >= moved + timedelta(hours=1)
    with pytest.raises(ValueError, match="only moves forward"):
        sim.advance(-1)


def test_a_new_message_makes_a_read_conversation_unread_again(sim: QuoSimulator) -> None:
    conversation_id = sim.conversation_ids(deleted=False)[0]
    mark_read(sim, conversation_id)
    assert conversation_id not in sim.unread_ids()
    assert sim.state(conversation_id)["read"] is True

    sim.advance(60)
    received = sim.receive_message(conversation_id)
    assert conversation_id in sim.unread_ids()
    assert received["lastActivityAt"] == received["updatedAt"]
    assert sim.conversation_ids()[0] == conversation_id, "most recent activity is listed first"


def test_a_snooze_ending_brings_a_read_conversation_back_unread(sim: QuoSimulator) -> None:
    conversation_id = sim.add_conversation(last_activity_at=NOW - timedelta(days=60))["id"]
    mark_read(sim, conversation_id)
    sim.snooze(conversation_id, until=sim.now() + timedelta(days=1))
    assert conversation_id not in sim.unread_ids()
    assert conversation_id not in sim.unread_ids(at=sim.now() + timedelta(hours=23))
    assert conversation_id in sim.unread_ids(at=sim.now() + timedelta(days=1, seconds=1))
    sim.advance(timedelta(days=2))
    assert conversation_id in sim.unread_ids()
    assert conversation_id in sim.stale_unread_ids(30)


def test_stale_unread_follows_the_cleanup_rule(sim: QuoSimulator) -> None:
    idle = sim.add_conversation("CNidle", last_activity_at=NOW - timedelta(days=31))
    fresh = sim.add_conversation("CNfresh", last_activity_at=NOW - timedelta(days=29))
    snoozed = sim.add_conversation(
        "CNsnoozed", last_activity_at=NOW - timedelta(days=40), snoozed_until=NOW + timedelta(days=1)
    )
    gone = sim.add_conversation("CNgone", last_activity_at=NOW - timedelta(days=40), deleted=True)
    muted = sim.add_conversation(
        "CNmuted", last_activity_at=NOW - timedelta(days=40), muted_until=NOW + timedelta(days=9)
    )
    stale = sim.stale_unread_ids(30, at=NOW)
    assert {idle["id"], muted["id"]} <= stale
    assert not {fresh["id"], snoozed["id"], gone["id"]} & stale
    assert fresh["id"] in sim.stale_unread_ids(timedelta(days=30), at=NOW + timedelta(days=2))
    mark_read(sim, idle["id"])
    assert idle["id"] not in sim.stale_unread_ids(30)


def test_a_simulated_day_is_deterministic_and_does_what_it_says() -> None:
    outcomes = []
    for _ in range(2):
        with QuoSimulator(conversations=500, seed=7, now=NOW) as sim:
            before = set(sim.conversation_ids())
            report = sim.simulate_activity(active_fraction=0.1, new_conversations=5, snooze_fraction=0.02)
            assert (report["messages"], report["new_conversations"], report["snoozes"]) == (48, 5, 10)
            assert len(set(sim.conversation_ids()) - before) == 5
            assert sim.now() >= NOW + timedelta(days=1)
            listed = [sim.conversation(cid) for cid in sim.conversation_ids()]
            moved = [c["id"] for c in listed if c["lastActivityAt"] and c["lastActivityAt"] > "2026-11-02"]
            assert len(moved) == 48 + 5, "every message and every new conversation is in the day"
            snoozed = sorted(c["id"] for c in listed if c["snoozedUntil"] and c["updatedAt"] > "2026-11-02")
            outcomes.append((moved, snoozed))
    assert outcomes[0] == outcomes[1], "the same seed plays the same day (up to the real-time tick of the clock)"


def test_simulate_activity_checks_its_fractions(sim: QuoSimulator) -> None:
    with pytest.raises(ValueError, match="active_fraction"):
        sim.simulate_activity(active_fraction=1.5)


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "PURGE"])
def test_unsupported_methods_get_the_documented_json_error(sim: QuoSimulator, method: str) -> None:
    response = requests.request(method, f"{sim.base_url}/v1/nothing", headers={"Authorization": KEY}, timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert (body["code"], body["title"]) == ("1000404", "Not Found")
    assert method in body["message"]
    assert sim.requests[-1].method == method, "recorded like any request"


def test_a_malformed_request_line_gets_a_json_error(sim: QuoSimulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw:
        raw.sendall(b"GET /v1/conversations HTTP/1.1 extra\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert b"<html" not in answer.lower()
    assert b'"code": "1000400"' in answer


def test_an_empty_page_token_means_the_first_page(sim: QuoSimulator) -> None:
    url = f"{sim.base_url}/v1/conversations"
    first = requests.get(url, params={"maxResults": 5}, headers={"Authorization": KEY}, timeout=5)
    empty = requests.get(url, params={"maxResults": 5, "pageToken": ""}, headers={"Authorization": KEY}, timeout=5)
    assert empty.status_code == 200
    assert [c["id"] for c in empty.json()["data"]] == [c["id"] for c in first.json()["data"]]
