"""The simulator's hostile-body and unproven-mark fault kinds, seen by a plain HTTP client (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import time
import zlib
from collections.abc import Iterator

import pytest
import requests

from airflow_provider_quo.testing import HOSTILE_KINDS, Faults, QuoSimulator
from airflow_provider_quo.testing.bodies import JUNK_ITEMS
from airflow_provider_quo.testing.faults import HARDENING_KINDS

pytestmark = pytest.mark.integration

KEY = "test-key"


@pytest.fixture
def sim() -> Iterator[QuoSimulator]:
    with QuoSimulator(api_key=KEY, conversations=12, seed=5) as simulator:
        yield simulator


def mark(sim: QuoSimulator, cid: str, **kwargs: object) -> requests.Response:
    url = f"{sim.base_url}/v1/conversations/{cid}/mark-as-read"
    return requests.post(url, headers={"Authorization": KEY}, timeout=10, **kwargs)  # type: ignore[arg-type]


def listing(sim: QuoSimulator) -> requests.Response:
    return requests.get(f"{sim.base_url}/v1/conversations?maxResults=5", headers={"Authorization": KEY}, timeout=10)


def test_hardening_kinds_are_hostile_kinds_too() -> None:
    assert set(HARDENING_KINDS) <= set(HOSTILE_KINDS)
    for kind in HARDENING_KINDS:
        Faults(hostile=kind)  # accepted as the always-on misbehaviour as well


def test_drip_sends_the_normal_answer_one_byte_at_a_time(sim: QuoSimulator) -> None:
    cid = sim.conversation_ids(deleted=False)[0]
    sim.faults = Faults(drip_seconds=0.002)
    sim.fail_next(1, "drip", path_contains=cid)
    url = f"{sim.base_url}/v1/conversations/{cid}/mark-as-read"
    with socket.create_connection((sim.host, sim.port), timeout=10) as client:
        client.sendall(f"POST {url[len(sim.base_url) :]} HTTP/1.1\r\nHost: x\r\nAuthorization: {KEY}\r\n\r\n".encode())
        received = b""
        reads = 0
        while not received.endswith(b"}"):
            chunk = client.recv(65536)
            assert chunk, "the server closed early"
            received += chunk
            reads += 1
    _head, body = received.split(b"\r\n\r\n", 1)
    assert json.loads(body)["id"] == cid, "the normal answer, and the mark applied (like 'slow')"
    assert reads > len(body) // 4, f"{len(body)} bytes arrived in {reads} reads: not dripped"
    assert sim.state(cid)["read"] is True
    assert sim.requests[-1].fault == "drip"


def test_gzip_bomb_is_small_on_the_wire_and_huge_inflated(sim: QuoSimulator) -> None:
    cid = sim.conversation_ids(deleted=False)[0]
    sim.faults = Faults(bomb_bytes=64 * 1024 * 1024)
    sim.fail_next(1, "gzip_bomb")
    response = mark(sim, cid, stream=True)
    wire = response.raw.read(decode_content=False)
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(wire) < 100_000
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    inflated = 0
    while wire or inflater.unconsumed_tail:
        inflated += len(inflater.decompress(inflater.unconsumed_tail or wire, 1 << 20))
        wire = b""
    assert inflated == 64 * 1024 * 1024
    assert sim.state(cid)["read"] is False


def test_empty_200_and_wrong_id(sim: QuoSimulator) -> None:
    cid = sim.conversation_ids(deleted=False)[0]
    sim.fail_next(1, "empty_200")
    sim.fail_next(1, "wrong_id")
    empty, wrong = mark(sim, cid), mark(sim, cid)
    assert (empty.status_code, empty.content) == (200, b"")
    assert wrong.status_code == 200
    assert wrong.json()["id"].startswith("CN")
    assert wrong.json()["id"] != cid
    assert sorted(wrong.json()) == sorted(sim.conversation(cid)), "a whole conversation object, another id"
    assert sim.state(cid)["mark_calls"] == 0


def test_forbidden_number_kind_answers_the_documented_403(sim: QuoSimulator) -> None:
    cid = sim.conversation_ids(deleted=False)[0]
    sim.fail_next(1, "forbidden_number")
    response = mark(sim, cid)
    assert response.status_code == 403
    body = response.json()
    assert (body["code"], body["title"], body["status"]) == ("1001403", "Not Phone Number User", 403)
    assert sim.state(cid)["read"] is False


def test_forbidden_numbers_answer_403_for_their_conversations_only(sim: QuoSimulator) -> None:
    first_number = sim.phone_numbers[0]["id"]
    sim.faults = Faults(forbidden_numbers=(first_number,))
    ids = sim.conversation_ids(deleted=False)
    statuses = {cid: mark(sim, cid).status_code for cid in ids}
    on_number = {cid for cid in ids if sim.conversation(cid)["phoneNumberId"] == first_number}
    assert on_number
    assert on_number != set(ids)
    assert {cid for cid, status in statuses.items() if status == 403} == on_number
    assert sim.read_ids() == set(ids) - on_number
    assert sim.stats()["requests"]["faults"]["forbidden_number"] == len(on_number)
    assert requests.post(f"{sim.base_url}/v1/conversations/{ids[0]}/mark-as-read").status_code == 401, "auth first"


def test_listing_junk_items_prefix_the_real_page(sim: QuoSimulator) -> None:
    normal = listing(sim).json()
    sim.fail_next(1, "listing_junk_items")
    junk = listing(sim).json()
    assert junk["data"] == JUNK_ITEMS + normal["data"]
    assert junk["nextPageToken"] == normal["nextPageToken"]


def test_listing_data_object(sim: QuoSimulator) -> None:
    normal = listing(sim).json()
    sim.fail_next(1, "listing_data_object")
    page = listing(sim).json()
    assert page["data"] == normal["data"][0]


@pytest.mark.parametrize("kind", ["listing_junk_items", "listing_data_object"])
def test_listing_kinds_on_a_mark_replace_the_answer_and_do_not_mark(sim: QuoSimulator, kind: str) -> None:
    cid = sim.conversation_ids(deleted=False)[0]
    sim.fail_next(1, kind)
    body = mark(sim, cid).json()
    assert "data" in body
    assert "id" not in body
    assert sim.state(cid)["mark_calls"] == 0


def test_new_fault_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="drip_seconds"):
        Faults(drip_seconds=-1)
    with pytest.raises(ValueError, match="bomb_bytes"):
        Faults(bomb_bytes=-1)
    assert Faults(forbidden_numbers=["PN1"]).forbidden_numbers == ("PN1",)


def test_a_client_giving_up_on_a_drip_frees_the_server(sim: QuoSimulator) -> None:
    cid = sim.conversation_ids(deleted=False)[0]
    sim.faults = Faults(drip_seconds=0.05)
    sim.fail_next(1, "drip")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            f"{sim.base_url}/v1/conversations/{cid}/mark-as-read", headers={"Authorization": KEY}, timeout=(2, 0.01)
        )
    deadline = time.monotonic() + 5
    while mark(sim, cid).status_code != 200 and time.monotonic() < deadline:
        pass
    assert mark(sim, cid).status_code == 200, "the simulator still answers"
