"""Bodies a misbehaving server sends, against real HTTP on 127.0.0.1: dripping, oversized, compressed,
echoing the key, proving no mark, or a listing that is not a page.

Most scenarios use the simulator's fault kinds; a tiny raw-socket server covers what the simulator
should not do (a chunked body with no Content-Length that never ends, a server echoing the key back).
No wall time is asserted: each call runs under ``run_bounded`` (a hang fails the test), and memory is
measured with ``tracemalloc`` around the client call.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import socketserver
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.exceptions import (
    QuoBulkMarkError,
    QuoServerError,
    QuoTimeoutError,
    QuoUnexpectedResponseError,
)
from airflow_provider_quo.hooks.http import MAX_BODY_BYTES
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import Faults, QuoSimulator
from airflow_provider_quo.testing.bodies import JUNK_ITEMS, gzip_bomb
from tests.mark_summary import assert_invariant, run_operator

pytestmark = pytest.mark.integration

RunBounded = Callable[[Callable[[], Any], float], tuple[Any, BaseException | None]]
HANG_BOUND = 60.0
#: Every request a marking run may send: one encoded segment between /v1/conversations/ and /mark-as-*.
ONE_MARK_PATH = re.compile(r"/v1/conversations/[^/?#]+/mark-as-(read|done|open)")
#: The client's memory budget for one oversized or bomb response: the 4 MiB cap plus 4 MiB of slack
#: (measured: 4.6 MB traced for the 256 MiB bomb, 5.5 MB for a 50 MB plain body).
MEMORY_BOUND = MAX_BODY_BYTES + (4 << 20)
TASK_LOG = logging.getLogger("test.quo.hostile_bodies")


@pytest.fixture(autouse=True)
def stdlib_task_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MarkConversationReadOperator, "log", property(lambda self: TASK_LOG))


def assert_only_mark_shaped_requests(sim: QuoSimulator) -> None:
    for record in sim.requests:
        assert record.method == "POST"
        assert ONE_MARK_PATH.fullmatch(record.raw_path), record.raw_path
        assert record.raw_query == ""


def peak_memory(call: Callable[[], Any]) -> tuple[Any, BaseException | None, int]:
    """Run ``call``; return (result, error, peak traced bytes)."""
    tracemalloc.start()
    try:
        try:
            return call(), None, tracemalloc.get_traced_memory()[1]
        except Exception as error:
            return None, error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- a body that drips never holds a worker past the attempt's deadline --------------------------


def test_a_dripping_200_fails_each_attempt_at_its_deadline_and_is_retried(
    connect: Callable[..., None], run_bounded: RunBounded, no_retry_sleep: list[float]
) -> None:
    with QuoSimulator(api_key="drip-key", conversations=5, faults=Faults(drip_seconds=0.25)) as sim:
        cid = sim.conversation_ids(deleted=False)[0]
        connect(sim, timeout=1, connect_timeout=0.5, retry_limit=2)  # each attempt: 1.5 s in all
        sim.fail_next(2, "drip")

        _, error = run_bounded(lambda: QuoHook().mark_conversation_as_read(cid), HANG_BOUND)

        assert isinstance(error, QuoTimeoutError), error
        assert "within the attempt's deadline" in str(error)
        assert len(sim.requests) == 2, "retried like a timeout, up to the retry limit"
        assert len(no_retry_sleep) == 1


def test_one_dripping_id_fails_while_the_others_are_marked(
    connect: Callable[..., None], run_bounded: RunBounded
) -> None:
    with QuoSimulator(api_key="drip-key", conversations=12, faults=Faults(drip_seconds=0.25)) as sim:
        ids = sim.conversation_ids(deleted=False)[:10]
        connect(sim, timeout=1, connect_timeout=0.5, retry_limit=2)
        sim.fail_next(2, "drip", path_contains=ids[3])
        op = MarkConversationReadOperator(task_id="drip", conversation_ids=ids, fail_on_error=False)

        summary, error = run_bounded(lambda: op.execute({"ti": mock.MagicMock(name="ti")}), HANG_BOUND)

        assert error is None
        assert list(summary["failed"]) == [ids[3]]
        assert "deadline" in summary["failed"][ids[3]]
        assert summary["marked_count"] == 9
        assert_invariant(summary)


# -- bodies are capped, compressed or not, and an echoed key never gets out ---------------------


def test_a_gzip_bomb_fails_once_with_bounded_memory(connect: Callable[..., None]) -> None:
    bomb = 256 * 1024 * 1024
    gzip_bomb(bomb)  # built (and cached) by the simulator before the client is measured
    with QuoSimulator(api_key="bomb-key", conversations=5, faults=Faults(hostile="gzip_bomb", bomb_bytes=bomb)) as sim:
        cid = sim.conversation_ids(deleted=False)[0]
        connect(sim)

        _, error, peak = peak_memory(lambda: QuoHook().mark_conversation_as_read(cid))

        assert isinstance(error, QuoUnexpectedResponseError)
        assert "larger than 4194304 bytes (decompressed)" in str(error)
        assert len(sim.requests) == 1, "not retried"
        assert peak < MEMORY_BOUND, f"{peak} bytes traced"
        assert sim.state(cid)["read"] is False


class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, str, dict[str, str]], None]], str]]:
    """``raw_server(answer)``: a one-off HTTP server on 127.0.0.1 whose ``answer(sock, path, headers)`` writes bytes."""
    servers: list[RawServer] = []

    def start(answer: Callable[[socket.socket, str, dict[str, str]], None]) -> str:
        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    path = line.split()[1].decode()
                    headers: dict[str, str] = {}
                    while (header := self.rfile.readline().strip()) != b"":
                        name, _, value = header.decode().partition(":")
                        headers[name.strip().lower()] = value.strip()
                    self.rfile.read(int(headers.get("content-length", "0")))
                    try:
                        answer(self.connection, path, headers)
                    except OSError:  # the client gave up
                        return

        server = RawServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def endless_chunked_body(sock: socket.socket, path: str, headers: dict[str, str]) -> None:
    """A 200 with a chunked JSON body and no Content-Length, 64 KB a chunk, up to 64 MB."""
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    block = b" " * 65536
    sock.sendall(b"1\r\n{\r\n")
    for _ in range(1024):
        sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
    sock.sendall(b"1\r\n}\r\n0\r\n\r\n")


def test_a_plain_body_without_content_length_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch, raw_server: Any) -> None:
    base = raw_server(endless_chunked_body)
    connection = {"conn_type": "quo", "password": "raw-key", "host": base, "extra": {"requests_per_second": 1e5}}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", json.dumps(connection))

    _, error, peak = peak_memory(lambda: list(QuoHook().iter_conversations()))

    assert isinstance(error, QuoUnexpectedResponseError)
    assert "larger than 4194304 bytes" in str(error)
    assert peak < MEMORY_BOUND, f"{peak} bytes traced"


def test_a_server_echoing_the_key_never_gets_it_into_errors_summaries_or_logs(
    monkeypatch: pytest.MonkeyPatch, raw_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = "echo-key-Q7w9Zr3x"

    def echo(sock: socket.socket, path: str, headers: dict[str, str]) -> None:
        sent = headers["authorization"]
        cid = path.split("/")[3]
        if cid == "CN1":  # a 200 whose id is the key
            status, body = "200 OK", json.dumps({"id": sent, "name": sent}).encode()
        elif cid == "CN2":  # an error body repeating the key everywhere
            status, body = "500 Oops", json.dumps({"message": f"bad key {sent}", "title": sent, "trace": sent}).encode()
        else:  # a 200 with the conversation, the key in a field
            status, body = "200 OK", json.dumps({"id": cid, "name": f"owner {sent}"}).encode()
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)

    base = raw_server(echo)
    connection = {"conn_type": "quo", "password": key, "host": base, "extra": {"requests_per_second": 1e5}}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", json.dumps(connection))
    op = MarkConversationReadOperator(
        task_id="echo", conversation_ids=["CN1", "CN2", "CN3"], return_conversations=True, max_workers=1
    )
    pushed: dict[str, Any] = {}

    class Ti:
        def xcom_push(self, key: str, value: Any) -> None:
            pushed[key] = value

    with caplog.at_level(logging.DEBUG), pytest.raises(QuoBulkMarkError) as caught:
        op.execute({"ti": Ti()})  # type: ignore[arg-type]

    assert key not in str(caught.value)
    assert key not in json.dumps(caught.value.summary)
    assert key not in json.dumps(pushed["return_value"])
    assert key not in caplog.text
    assert pushed["conversations"] == [{"id": "CN3", "name": "owner ***"}], "stored: the key is kept out of XCom"
    assert "for conversation '***'" in caught.value.summary["failed"]["CN1"]
    assert caught.value.summary["marked"] == ["CN3"]


# -- a 200 must prove the mark ------------------------------------------------------------------


def test_empty_and_wrong_id_200s_fail_those_ids_and_mark_nothing(connect: Callable[..., None]) -> None:
    with QuoSimulator(api_key="proof-key", conversations=12) as sim:
        ids = sim.conversation_ids(deleted=False)[:10]
        connect(sim)
        sim.fail_next(1, "empty_200", path_contains=ids[2])
        sim.fail_next(1, "wrong_id", path_contains=ids[5])

        summary, error = run_operator(MarkConversationReadOperator(task_id="proof", conversation_ids=ids))

        assert isinstance(error, QuoBulkMarkError)
        assert set(summary["failed"]) == {ids[2], ids[5]}
        assert "empty body" in summary["failed"][ids[2]]
        assert f"not the requested {ids[5]!r}" in summary["failed"][ids[5]]
        assert summary["marked_count"] == 8
        assert sim.read_ids() == set(ids) - {ids[2], ids[5]}, "the summary matches the server's state"
        assert len(sim.requests) == 10, "not retried"
        assert_invariant(summary)
        assert_only_mark_shaped_requests(sim)


# -- a listing that is not a page -----------------------------------------------------------------


def test_a_listing_whose_data_is_an_object_is_a_typed_error(connect: Callable[..., None]) -> None:
    with QuoSimulator(api_key="list-key", conversations=5) as sim:
        connect(sim)
        sim.fail_next(1, "listing_data_object")
        with pytest.raises(QuoUnexpectedResponseError, match="'data' is dict, not a list"):
            list(QuoHook().iter_conversations())
        assert len(sim.requests) == 1


def test_junk_items_are_yielded_as_they_came_next_to_the_real_ones(connect: Callable[..., None]) -> None:
    with QuoSimulator(api_key="list-key", conversations=5) as sim:
        connect(sim)
        sim.fail_next(1, "listing_junk_items")
        items = list(QuoHook().iter_conversations())
        assert items[: len(JUNK_ITEMS)] == JUNK_ITEMS
        assert [item["id"] for item in items[len(JUNK_ITEMS) :]] == sim.conversation_ids()


# -- an error body over the cap -------------------------------------------------------------------


def test_an_oversized_error_body_from_the_simulator_stays_a_retried_server_error(
    connect: Callable[..., None],
) -> None:
    with QuoSimulator(api_key="err-key", conversations=5) as sim:
        connect(sim, retry_limit=2)
        sim.fail_next(2, "html_error")
        with pytest.raises(QuoServerError):
            QuoHook().request("GET", "v1", "phone-numbers")
        assert len(sim.requests) == 2
