"""One attempt (hooks/http.py): the body read within a deadline and a size cap (gzip and deflate inflated here, a bomb
never past the cap), a refused connection as a short typed error, redirects refused, the key's budget told what the
response stated, and the key never in an error. The deadline runs on a fake clock: nothing sleeps."""

from __future__ import annotations

import gzip
import json
import socket
import zlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import urllib3

from airflow_provider_quo.dispositions import disposition
from airflow_provider_quo.exceptions import (
    QuoAPIError,
    QuoConnectionError,
    QuoConnectionRefusedError,
    QuoError,
    QuoRateLimitError,
    QuoServerError,
    QuoTimeoutError,
    QuoUnexpectedResponseError,
)
from airflow_provider_quo.hooks import http
from airflow_provider_quo.hooks.budget import KeyBudget
from airflow_provider_quo.hooks.http import (
    ACCEPT_ENCODING,
    MAX_BODY_BYTES,
    MAX_RETRY_AFTER,
    build_session,
    read_body,
    send_once,
)
from airflow_provider_quo.hooks.stores import ProcessStore
from tests.unit.conftest import FakeClock

KEY = "http-key-Vb73nQ"
BASE = "http://127.0.0.1:8999"
URL = f"{BASE}/v1/conversations/CN1/mark-as-read"


class DripRaw:
    """A streamed body that gives ``step`` bytes per read and moves a fake clock ``seconds`` per read."""

    def __init__(self, body: bytes, clock: FakeClock, seconds: float = 0.0, step: int = 1) -> None:
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


@pytest.fixture
def monotonic(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """hooks/http.py's monotonic clock is the test's fake one."""
    monkeypatch.setattr(http, "time", SimpleNamespace(monotonic=clock))
    return clock


def read(raw: DripRaw, status: int = 200, *, max_bytes: int = MAX_BODY_BYTES, truncate: bool = False, **headers: str):
    return read_body(
        response(raw, status, **headers),
        label="POST u",
        deadline=raw.clock() + 10,
        read_timeout=1,
        max_bytes=max_bytes,
        truncate=truncate,
    )


# -- the deadline ----------------------------------------------------------------------------------------------


def test_a_drip_fed_body_fails_at_the_deadline_as_a_timeout(monotonic: FakeClock) -> None:
    raw = DripRaw(b"{" + b" " * 10_000 + b"}", monotonic, seconds=0.25)
    with pytest.raises(QuoTimeoutError, match="no complete response within the attempt's deadline") as caught:
        read_body(response(raw), label="POST u", deadline=monotonic() + 1.5, read_timeout=1.0)
    assert raw.reads == 6, "one byte every 0.25 s: 6 reads fit in 1.5 s, then the deadline ends the attempt"
    assert raw.closed, "a half-read connection is closed, never reused"
    assert disposition(caught.value).retry_request


def test_a_body_within_the_deadline_is_read_whole(monotonic: FakeClock) -> None:
    raw = DripRaw(b'{"id": "CN1"}', monotonic, seconds=0.01, step=4)
    assert read_body(response(raw), label="x", deadline=monotonic() + 1.0, read_timeout=1.0) == b'{"id": "CN1"}'


def test_the_socket_wait_is_cut_to_what_the_deadline_leaves(monotonic: FakeClock) -> None:
    class Stalled(DripRaw):
        def read1(self, amt: int, decode_content: bool = True) -> bytes:
            self.clock.now += 0.3
            raise urllib3.exceptions.ReadTimeoutError(None, "u", "read timed out")  # type: ignore[arg-type]

    with pytest.raises(QuoTimeoutError, match="within the attempt's deadline"):
        read_body(response(Stalled(b"", monotonic)), label="x", deadline=monotonic() + 0.3, read_timeout=5)
    with pytest.raises(QuoTimeoutError, match="ReadTimeout while reading the body"):
        read_body(response(Stalled(b"", monotonic)), label="x", deadline=monotonic() + 10, read_timeout=0.3)


def test_a_connection_cut_mid_body_is_a_connection_error_not_a_timeout(monotonic: FakeClock) -> None:
    class Cut(DripRaw):
        def read1(self, amt: int, decode_content: bool = True) -> bytes:
            raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")

    with pytest.raises(QuoConnectionError, match="ProtocolError while reading the body") as caught:
        read(Cut(b"", monotonic))
    assert not isinstance(caught.value, QuoTimeoutError)


# -- the cap ---------------------------------------------------------------------------------------------------


def test_a_plain_body_over_the_cap_fails_without_reading_further(monotonic: FakeClock) -> None:
    raw = DripRaw(b"x" * 5000, monotonic, step=1000)
    with pytest.raises(QuoUnexpectedResponseError, match="larger than 2048 bytes") as caught:
        read(raw, max_bytes=2048)
    assert raw.reads == 3
    assert caught.value.status == 200
    assert not disposition(caught.value).retry_request


def test_a_content_length_over_the_cap_fails_before_reading(monotonic: FakeClock) -> None:
    raw = DripRaw(b"x", monotonic)
    with pytest.raises(QuoUnexpectedResponseError, match="larger than"):
        read(raw, **{"Content-Length": str(MAX_BODY_BYTES + 1)})
    assert raw.reads == 0


def test_an_error_body_is_truncated_at_the_cap_instead(monotonic: FakeClock) -> None:
    assert read(DripRaw(b"y" * 5000, monotonic, step=1000), 500, max_bytes=2500, truncate=True) == b"y" * 2500


def test_a_gzip_bomb_is_never_inflated_past_the_cap(monotonic: FakeClock) -> None:
    raw = DripRaw(gzip.compress(b" " * (64 * 1024 * 1024)), monotonic, step=64 * 1024)
    with pytest.raises(QuoUnexpectedResponseError, match=r"larger than 1048576 bytes \(decompressed\)"):
        read(raw, max_bytes=1024 * 1024, **{"Content-Encoding": "gzip"})
    assert raw.reads == 1, "the first 64 KB of the bomb already inflate past 1 MiB: nothing more is read"


def test_an_error_body_bomb_is_cut_at_the_cap(monotonic: FakeClock) -> None:
    raw = DripRaw(gzip.compress(b"z" * (16 * 1024 * 1024)), monotonic, step=64 * 1024)
    assert read(raw, 502, max_bytes=4096, truncate=True, **{"Content-Encoding": "gzip"}) == b"z" * 4096


# -- encodings -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP ", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda data: data),
    ],
    ids=["gzip", "x-gzip", "GZIP", "zlib-deflate", "raw-deflate", "identity"],
)
def test_compressed_bodies_are_inflated_here(
    monotonic: FakeClock, encoding: str, pack: Callable[[bytes], bytes]
) -> None:
    payload = json.dumps({"id": "CN1", "padding": "x" * 100_000}).encode()
    assert read(DripRaw(pack(payload), monotonic, step=300), **{"Content-Encoding": encoding}) == payload


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("br", b"\x0b\x02\x80{}\x03"),
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(b'{"id": "CN1"}')[:-8] + b"\x00" * 8),  # a wrong CRC
        ("deflate", zlib.compress(b'{"id": "CN1"}')[:-4] + b"\x00" * 4),  # a wrong Adler-32
    ],
    ids=["unknown", "not-gzip", "corrupt-gzip", "corrupt-deflate"],
)
def test_unknown_or_corrupt_encodings_are_typed_errors(monotonic: FakeClock, encoding: str, body: bytes) -> None:
    with pytest.raises(QuoUnexpectedResponseError, match=encoding) as caught:
        read(DripRaw(body, monotonic, step=100), **{"Content-Encoding": encoding})
    assert not disposition(caught.value).retry_request


# -- one attempt -------------------------------------------------------------------------------------------------


@pytest.fixture
def budget(clock: FakeClock) -> KeyBudget:
    return KeyBudget(ProcessStore(clock=clock), configured=1e6, ceiling=False, clock=clock, sleep=clock.sleep)


@pytest.fixture
def attempt(budget: KeyBudget) -> Callable[..., Any]:
    """``attempt(method="POST", url=URL)``: one ``send_once`` through a fresh session with ``KEY``."""
    session = build_session(KEY, BASE)

    def send(method: str = "POST", url: str = URL, params: Any = None, timeout: tuple[float, float] = (2, 5)) -> Any:
        return send_once(session, budget, (method, url, params), timeout=timeout, api_key=KEY)

    return send


def test_the_session_sends_the_raw_key_json_and_only_gzip_and_deflate(attempt: Any, requests_mock: Any) -> None:
    requests_mock.post(URL, json={"id": "CN1"})
    assert attempt() == {"id": "CN1"}
    sent = requests_mock.last_request.headers
    assert sent["Authorization"] == KEY
    assert sent["Accept"] == "application/json"
    assert sent["Accept-Encoding"] == ACCEPT_ENCODING == "gzip, deflate"
    assert requests_mock.last_request.timeout == (2, 5)


def test_a_gzip_success_body_reaches_the_caller(attempt: Any, requests_mock: Any) -> None:
    body = {"id": "CN1", "name": None}
    requests_mock.post(URL, content=gzip.compress(json.dumps(body).encode()), headers={"Content-Encoding": "gzip"})
    assert attempt() == body


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_and_not_followed(attempt: Any, requests_mock: Any, status: int) -> None:
    requests_mock.post(URL, status_code=status, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    requests_mock.get("http://127.0.0.1:9/elsewhere", json={"id": "CN1"})
    with pytest.raises(QuoAPIError) as caught:
        attempt()
    assert caught.value.status == status
    assert requests_mock.call_count == 1
    assert not disposition(caught.value).retry_request


def test_a_refused_connection_is_a_short_typed_error(attempt: Any) -> None:
    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/phone-numbers"
    with pytest.raises(QuoConnectionError) as caught:
        attempt("GET", url)
    assert str(caught.value) == f"GET {url} failed: connection refused by 127.0.0.1:{port}"
    assert type(caught.value) is QuoConnectionRefusedError
    assert caught.value.kind == "connection_refused"
    assert caught.value.__cause__ is None
    assert disposition(caught.value).retry_request


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (requests.ConnectTimeout("connect timed out"), QuoTimeoutError),
        (requests.ReadTimeout("read timed out"), QuoTimeoutError),
        (requests.ConnectionError("Remote end closed connection"), QuoConnectionError),
        (requests.exceptions.ChunkedEncodingError("broken"), QuoConnectionError),
        (requests.exceptions.InvalidURL("bad url"), QuoError),
    ],
)
def test_a_request_without_a_response_is_typed(
    attempt: Any, requests_mock: Any, raised: Exception, expected: type[QuoError]
) -> None:
    requests_mock.post(URL, exc=raised)
    with pytest.raises(QuoError) as caught:
        attempt()
    assert type(caught.value) is expected
    assert caught.value.__cause__ is None, "requests' errors hold the request, and so the key: never chained"
    assert str(caught.value).startswith(f"POST {URL} ")


def test_a_429_tells_the_budget_to_pause_for_its_retry_after(
    attempt: Any, requests_mock: Any, budget: KeyBudget
) -> None:
    requests_mock.post(URL, status_code=429, json={"message": "Too many"}, headers={"Retry-After": "4"})
    with pytest.raises(QuoRateLimitError):
        attempt()
    assert budget.acquire() == pytest.approx(4.0)


@pytest.mark.parametrize("retry_after", ["3600", "Sun, 01 Nov 2099 12:00:12 GMT"])
def test_a_429s_pause_is_capped_as_the_retrys_wait(
    attempt: Any, requests_mock: Any, budget: KeyBudget, retry_after: str
) -> None:
    """Else the retry (capped at 60 s) would then wait the whole hour for its slot."""
    requests_mock.post(URL, status_code=429, json={"message": "Too many"}, headers={"Retry-After": retry_after})
    with pytest.raises(QuoRateLimitError):
        attempt()
    assert budget.acquire() == pytest.approx(MAX_RETRY_AFTER) == pytest.approx(60.0)


@pytest.mark.parametrize("status", [500, 503])
def test_other_errors_do_not_pause_the_budget(attempt: Any, requests_mock: Any, budget: KeyBudget, status: int) -> None:
    requests_mock.post(URL, status_code=status, text="<html>busy</html>", headers={"Retry-After": "4"})
    with pytest.raises(QuoServerError):
        attempt()
    assert budget.acquire() < 0.001, "a 5xx's Retry-After is the retry's wait, not the key's"


def test_what_a_response_states_reaches_the_budget(attempt: Any, requests_mock: Any, budget: KeyBudget) -> None:
    requests_mock.post(
        URL, json={"id": "CN1"}, headers={"RateLimit-Policy": '"s";q=25;w=1', "RateLimit": '"s";r=9;t=1'}
    )
    attempt()
    assert budget.rate == pytest.approx(25 * 0.99)


def test_an_attempts_deadline_is_connect_plus_read_timeout(
    attempt: Any, requests_mock: Any, monotonic: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    real = http.read_body

    def spy(resp: requests.Response, **kwargs: Any) -> bytes:
        seen.append(kwargs)
        return real(resp, **kwargs)

    monkeypatch.setattr(http, "read_body", spy)
    requests_mock.post(URL, json={"id": "CN1"})
    attempt(timeout=(2.0, 7.0))
    assert (seen[0]["deadline"], seen[0]["read_timeout"]) == (monotonic() + 9.0, 7.0)


def test_an_oversized_error_body_still_gives_its_status_error(attempt: Any, requests_mock: Any) -> None:
    requests_mock.post(URL, status_code=502, content=b"<html>" + b"x" * (MAX_BODY_BYTES * 2))
    with pytest.raises(QuoServerError) as caught:
        attempt()
    assert caught.value.status == 502
    assert len(str(caught.value)) < 700


@pytest.mark.parametrize(("encoding", "body"), [("br", b"\x0b\x02\x80{}\x03"), ("gzip", b"not gzip at all")])
def test_an_error_body_in_a_bad_encoding_keeps_its_status_error(
    attempt: Any, requests_mock: Any, encoding: str, body: bytes
) -> None:
    requests_mock.post(URL, status_code=503, content=body, headers={"Content-Encoding": encoding})
    with pytest.raises(QuoServerError) as caught:
        attempt()
    assert caught.value.status == 503
    assert disposition(caught.value).retry_request


# -- the key never in an error ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (500, json.dumps({"message": f"bad key {KEY}", "title": KEY, "trace": KEY}), "application/json"),
        (401, f"<html>Unauthorized: {KEY}</html>", "text/html"),
        (200, f"<html>hello {KEY}</html>", "text/html"),
        (200, json.dumps([KEY]), "application/json"),
    ],
    ids=["json-error", "html-error", "html-200", "json-200-not-an-object"],
)
def test_a_body_echoing_the_key_never_puts_it_in_the_error(
    attempt: Any, requests_mock: Any, status: int, body: str, content_type: str
) -> None:
    requests_mock.post(URL, status_code=status, text=body, headers={"Content-Type": content_type})
    with pytest.raises(QuoAPIError) as caught:
        attempt()
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert KEY not in repr(vars(caught.value))
