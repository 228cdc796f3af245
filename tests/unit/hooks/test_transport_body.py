"""read_body: the total deadline, the decompressed-size cap, gzip/deflate read here; and the hook's use of it."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from typing import Any

import pytest
import requests

from airflow_provider_quo.exceptions import QuoConnectionError, QuoTimeoutError, QuoUnexpectedResponseError
from airflow_provider_quo.hooks import transport
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.hooks.transport import ACCEPT_ENCODING, MAX_BODY_BYTES, read_body
from tests.conftest import TEST_API_KEY


class DripRaw:
    """A streamed body that gives ``step`` bytes per read and moves a fake clock ``seconds`` per read."""

    def __init__(self, body: bytes, clock: Any, seconds: float, step: int = 1) -> None:
        self.body, self.clock, self.seconds, self.step = body, clock, seconds, step
        self.reads = 0
        self.closed = False

    def read1(self, amt: int, decode_content: bool = True) -> bytes:
        assert decode_content is False, "the body is decompressed by read_body, never by urllib3"
        self.reads += 1
        self.clock.now += self.seconds
        chunk, self.body = self.body[: self.step], self.body[self.step :]
        return chunk

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


def response(raw: Any, status: int = 200, **headers: str) -> requests.Response:
    result = requests.Response()
    result.status_code = status
    result.raw = raw
    result.headers.update(headers)
    return result


def test_a_dripping_body_fails_at_the_deadline_as_a_timeout(clock: Any) -> None:
    raw = DripRaw(b"{" + b" " * 10_000 + b"}", clock, seconds=0.25)
    deadline = clock() + 1.5

    with pytest.raises(QuoTimeoutError, match="no complete response within the attempt's deadline") as caught:
        read_body(response(raw), label="POST http://x/v1", deadline=deadline, read_timeout=1.0, clock=clock)

    assert raw.reads == 6, "one byte every 0.25 s: 6 reads fit in 1.5 s, then the deadline ends the attempt"
    assert raw.closed, "a half-read connection is closed, never reused"
    assert isinstance(caught.value, QuoConnectionError), "retried like any timeout"


def test_a_body_within_the_deadline_is_read_whole(clock: Any) -> None:
    raw = DripRaw(b'{"id": "CN1"}', clock, seconds=0.01, step=4)
    body = read_body(response(raw), label="x", deadline=clock() + 1.0, read_timeout=1.0, clock=clock)
    assert body == b'{"id": "CN1"}'


def test_plain_body_over_the_cap_fails_without_reading_further(clock: Any) -> None:
    raw = DripRaw(b"x" * 5000, clock, seconds=0.0, step=1000)
    with pytest.raises(QuoUnexpectedResponseError, match="larger than 2048 bytes") as caught:
        read_body(response(raw), label="GET u", deadline=clock() + 10, read_timeout=1, max_bytes=2048, clock=clock)
    assert raw.reads == 3
    assert caught.value.kind == "unexpected_response"  # not retried: see DISPOSITIONS
    assert caught.value.status == 200


def test_content_length_over_the_cap_fails_before_reading(clock: Any) -> None:
    raw = DripRaw(b"x", clock, seconds=0.0)
    with pytest.raises(QuoUnexpectedResponseError, match="larger than"):
        read_body(
            response(raw, **{"Content-Length": str(MAX_BODY_BYTES + 1)}),
            label="x",
            deadline=clock() + 1,
            read_timeout=1,
            clock=clock,
        )
    assert raw.reads == 0


def test_error_bodies_are_truncated_at_the_cap_instead(clock: Any) -> None:
    raw = DripRaw(b"y" * 5000, clock, seconds=0.0, step=1000)
    body = read_body(
        response(raw, 500), label="x", deadline=clock() + 1, read_timeout=1, max_bytes=2500, truncate=True, clock=clock
    )
    assert body == b"y" * 2500


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
    ],
)
def test_compressed_bodies_are_inflated_here(clock: Any, encoding: str, pack: Any) -> None:
    payload = json.dumps({"id": "CN1", "padding": "x" * 100_000}).encode()
    raw = DripRaw(pack(payload), clock, seconds=0.0, step=300)
    body = read_body(
        response(raw, **{"Content-Encoding": encoding}), label="x", deadline=1e9, read_timeout=1, clock=clock
    )
    assert body == payload


def test_a_gzip_bomb_is_never_inflated_past_the_cap(clock: Any) -> None:
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))
    raw = DripRaw(bomb, clock, seconds=0.0, step=64 * 1024)
    with pytest.raises(QuoUnexpectedResponseError, match="larger than 1048576 bytes \\(decompressed\\)"):
        read_body(
            response(raw, **{"Content-Encoding": "gzip"}),
            label="x",
            deadline=1e9,
            read_timeout=1,
            max_bytes=1024 * 1024,
            clock=clock,
        )
    assert raw.reads == 1, "the first 64 KB of the bomb already inflate past 1 MiB: nothing more is read"


@pytest.mark.parametrize(("encoding", "body"), [("br", b"\x0b\x02\x80{}\x03"), ("gzip", b"not gzip at all")])
def test_unknown_or_corrupt_encodings_are_typed_errors(clock: Any, encoding: str, body: bytes) -> None:
    raw = DripRaw(body, clock, seconds=0.0, step=100)
    with pytest.raises(QuoUnexpectedResponseError, match=encoding):
        read_body(response(raw, **{"Content-Encoding": encoding}), label="x", deadline=1e9, read_timeout=1, clock=clock)


def test_a_connection_cut_mid_body_is_a_connection_error(clock: Any) -> None:
    import urllib3

    class Cut(DripRaw):
        def read1(self, amt: int, decode_content: bool = True) -> bytes:
            raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")

    with pytest.raises(QuoConnectionError, match="ProtocolError while reading the body") as caught:
        read_body(response(Cut(b"", clock, 0.0)), label="x", deadline=1e9, read_timeout=1, clock=clock)
    assert not isinstance(caught.value, QuoTimeoutError)


def test_the_session_asks_only_for_gzip_and_deflate(hook: QuoHook, quo_conn: str, requests_mock: Any) -> None:
    requests_mock.get(f"{quo_conn}/v1/phone-numbers", json={"data": []})
    hook.request("GET", "v1", "phone-numbers")
    assert requests_mock.last_request.headers["Accept-Encoding"] == ACCEPT_ENCODING == "gzip, deflate"


def test_the_hook_gives_each_attempt_a_deadline_of_connect_plus_read_timeout(
    hook: QuoHook, quo_conn: str, requests_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests_mock.get(f"{quo_conn}/v1/phone-numbers", json={"data": []})
    seen: list[dict[str, Any]] = []
    real = transport.read_body

    def spy(resp: requests.Response, **kwargs: Any) -> bytes:
        seen.append(kwargs)
        return real(resp, **kwargs)

    monkeypatch.setattr("airflow_provider_quo.hooks.attempt.read_body", spy)

    before = time.monotonic()
    hook.request("GET", "v1", "phone-numbers", timeout=(2.0, 7.0))

    assert before + 9.0 <= seen[0]["deadline"] <= time.monotonic() + 9.0
    assert seen[0]["read_timeout"] == 7.0
    assert requests_mock.last_request.timeout == (2.0, 7.0)


def test_a_gzip_success_body_reaches_the_caller_and_a_bomb_fails_once(
    hook: QuoHook, quo_conn: str, requests_mock: Any
) -> None:
    conversation = {"id": "CN1", "name": None}
    mark_url = f"{quo_conn}/v1/conversations/CN1/mark-as-read"
    requests_mock.post(
        mark_url, content=gzip.compress(json.dumps(conversation).encode()), headers={"Content-Encoding": "gzip"}
    )
    assert hook.mark_conversation_as_read("CN1") == conversation

    requests_mock.post(
        mark_url, content=gzip.compress(b" " * (MAX_BODY_BYTES + 10)), headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(QuoUnexpectedResponseError, match="larger than 4194304 bytes"):
        hook.mark_conversation_as_read("CN1")
    assert requests_mock.call_count == 2, "not retried"


def test_an_oversized_error_body_still_gives_the_typed_status_error(
    hook: QuoHook, quo_conn: str, requests_mock: Any
) -> None:
    from airflow_provider_quo.exceptions import QuoServerError

    requests_mock.get(f"{quo_conn}/v1/phone-numbers", status_code=502, content=b"<html>" + b"x" * (MAX_BODY_BYTES * 2))
    with pytest.raises(QuoServerError) as caught:
        hook.request("GET", "v1", "phone-numbers", retries=False)
    assert caught.value.status == 502
    assert len(str(caught.value)) < 700
    assert TEST_API_KEY not in str(caught.value)


@pytest.mark.parametrize(("encoding", "body"), [("br", b"\x0b\x02\x80{}\x03"), ("gzip", b"not gzip at all")])
def test_an_error_body_in_a_bad_encoding_keeps_its_status_error(
    hook: QuoHook, quo_conn: str, requests_mock: Any, encoding: str, body: bytes
) -> None:
    from airflow_provider_quo.exceptions import QuoServerError

    requests_mock.get(
        f"{quo_conn}/v1/phone-numbers", status_code=503, content=body, headers={"Content-Encoding": encoding}
    )
    with pytest.raises(QuoServerError) as caught:
        hook.request("GET", "v1", "phone-numbers", retries=False)
    assert caught.value.status == 503
    assert caught.value.kind == "5xx"  # retried: see DISPOSITIONS
