"""The HTTP session every QuoHook request goes through, and the typed error of a request with no response."""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from airflow_provider_quo import __version__
from airflow_provider_quo.dispositions import TRANSIENT_TRANSPORT_ERRORS
from airflow_provider_quo.exceptions import (
    QuoConnectionError,
    QuoError,
    QuoTimeoutError,
    QuoTLSError,
    QuoUnexpectedResponseError,
)
from airflow_provider_quo.hooks.settings import is_loopback

#: Connections kept alive per host: enough for the bulk runner's largest default pool of workers.
POOL_MAXSIZE = 64
#: Largest response body read, after decompression: a conversation is ~500 bytes, a 100-item page ~60 KB.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Bytes asked of the socket per read while streaming a body.
READ_CHUNK_BYTES = 64 * 1024
#: Most bytes inflated per step, so a bomb never holds more than the cap plus one step.
INFLATE_STEP_BYTES = 256 * 1024
#: The only encodings asked for (never ``br``/``zstd``, which requests adds when their packages are installed).
ACCEPT_ENCODING = "gzip, deflate"


def _one_line(error: BaseException, limit: int = 300) -> str:
    return " ".join(str(error).split())[:limit]


def _tls_hint(url: str) -> str:
    """The likely cause of a TLS failure on loopback: a plain-http local server (the simulator) reached over https."""
    if not is_loopback(urlsplit(url).hostname or ""):
        return ""
    return " (is this an http:// server? A base URL without a scheme means https://)"


def transport_error(error: requests.RequestException, label: str, url: str) -> QuoError:
    """The typed error of a request that got no response: TLS (not retried), timeout or connection
    (retried), or unsendable.

    :param error: what requests raised (never chained by the caller: it holds the Authorization header).
    :param label: ``"METHOD URL"`` for the message.
    :param url: the request's URL, to tell a loopback host.
    """
    if isinstance(error, requests.exceptions.SSLError):  # a ConnectionError, but retrying cannot fix it
        return QuoTLSError(f"{label} failed: TLS error: {_one_line(error)}{_tls_hint(url)}")
    if isinstance(error, requests.Timeout):  # connect or read: the same kind as a timeout mid-body
        return QuoTimeoutError(f"{label} failed: {type(error).__name__}: {_one_line(error)}")
    if isinstance(error, TRANSIENT_TRANSPORT_ERRORS):
        return QuoConnectionError(f"{label} failed: {type(error).__name__}: {_one_line(error)}")
    return QuoError(f"{label} could not be sent: {type(error).__name__}")  # a bad URL or header


def build_session(api_key: str, base_url: str) -> requests.Session:
    """A keep-alive session that sends the raw key (no ``Bearer``) and JSON ``Accept`` on every request.

    Its connection pool is thread-safe, so one session serves every worker thread of a bulk run.

    :param api_key: the Quo API key, sent as ``Authorization: <key>``.
    :param base_url: the API root, used to pick the proxy settings once.
    """
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": api_key,
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": f"airflow-provider-quo/{__version__} python-requests/{requests.__version__}",
        }
    )
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_MAXSIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # With trust_env, requests re-scans os.environ for proxies (and ~/.netrc, which would replace the
    # Authorization header) on every request: about a third of the client CPU per mark. Read the
    # proxies (NO_PROXY applied to this host) and the CA bundle from the environment once instead.
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session


class _Inflater:
    """Decompresses ``gzip``/``deflate`` (zlib-wrapped or raw) a bounded number of bytes at a time."""

    def __init__(self, encoding: str) -> None:
        self.raw_deflate_fallback = encoding == "deflate"
        self._obj = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        self._fed = False

    def inflate(self, data: bytes, limit: int) -> bytes:
        """At most ``limit`` bytes of output; the rest of the input waits in ``unconsumed_tail``."""
        try:
            out = self._obj.decompress(self._obj.unconsumed_tail + data, limit)
        except zlib.error:
            if not self.raw_deflate_fallback or self._fed:
                raise
            self._obj, self.raw_deflate_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
            out = self._obj.decompress(data, limit)
        self._fed = True
        return out

    @property
    def pending(self) -> bool:
        return bool(self._obj.unconsumed_tail)


def _inflater(response: requests.Response, label: str) -> _Inflater | None:
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding == "identity":
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflater(encoding)
    raise QuoUnexpectedResponseError(
        status=response.status_code,
        title="Invalid response",
        message=f"{label}: unsupported Content-Encoding {encoding!r}",
    )


def _too_large(response: requests.Response, label: str, max_bytes: int) -> QuoUnexpectedResponseError:
    message = f"{label}: response body larger than {max_bytes} bytes (decompressed); not read further"
    return QuoUnexpectedResponseError(status=response.status_code, title="Response too large", message=message)


#: A socket timeout this close to the deadline is the deadline's doing.
_DEADLINE_SLACK = 0.05


def _deadline_passed(label: str) -> QuoTimeoutError:
    return QuoTimeoutError(f"{label} failed: Timeout: no complete response within the attempt's deadline")


def _read_within(response: requests.Response, remaining: float, read_timeout: float) -> bytes:
    """One socket read of the body, waiting at most ``min(read_timeout, remaining)`` seconds."""
    connection = getattr(response.raw, "connection", None)
    with contextlib.suppress(AttributeError, OSError):  # requests-mock bodies have no socket
        connection.sock.settimeout(max(0.001, min(read_timeout, remaining)))  # type: ignore[union-attr]
    read1 = getattr(response.raw, "read1", None)
    data: bytes = (read1 or response.raw.read)(READ_CHUNK_BYTES, decode_content=False)
    return data or b""


def read_body(
    response: requests.Response,
    *,
    label: str,
    deadline: float,
    read_timeout: float,
    max_bytes: int = MAX_BODY_BYTES,
    truncate: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """Read a streamed (``stream=True``) body by chunks, decompressing it here, within a total deadline.

    A slow-drip body cannot outlive ``deadline``, and neither a plain nor a compressed body can take
    more than ``max_bytes`` (plus one chunk) of memory: a gzip bomb is never inflated past the cap.
    The connection is released for reuse after a whole body, closed otherwise.

    :param response: a response sent with ``stream=True``.
    :param label: ``"METHOD url"`` for the error messages.
    :param deadline: the ``clock()`` value by which the body must be complete.
    :param read_timeout: the longest wait for one socket read.
    :param max_bytes: the cap on the decompressed body.
    :param truncate: return the first ``max_bytes`` instead of raising (for error bodies, read for an excerpt).
    :param clock: the monotonic clock ``deadline`` is on.
    :raises QuoTimeoutError: past the deadline.
    :raises QuoUnexpectedResponseError: beyond ``max_bytes``, or for an unknown or corrupt encoding.
    :raises QuoConnectionError: if the connection fails mid-body.
    """
    try:
        body = _read_capped(response, label, deadline, read_timeout, max_bytes, truncate, clock)
    except BaseException:
        response.close()  # a body left half-read: never hand this connection to another request
        raise
    response._content = body  # what .content and .json() use
    response._content_consumed = True  # type: ignore[attr-defined]  # close() then keeps the connection
    response.close()  # releases the connection to the pool for reuse
    return body


def _read_capped(
    response: requests.Response,
    label: str,
    deadline: float,
    read_timeout: float,
    max_bytes: int,
    truncate: bool,
    clock: Callable[[], float],
) -> bytes:
    length = response.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > max_bytes and not truncate:
        raise _too_large(response, label, max_bytes)
    reader = _ChunkReader(response, label, _body_inflater(response, label, truncate), deadline, read_timeout, clock)
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            data = reader.next_chunk(min(max_bytes + 1 - size, INFLATE_STEP_BYTES))
        except zlib.error:
            if truncate:
                return b"".join(chunks)
            message = f"{label}: the body is not valid {response.headers.get('Content-Encoding')} data"
            raise QuoUnexpectedResponseError(
                status=response.status_code, title="Invalid response", message=message
            ) from None
        if data is None:
            return b"".join(chunks)
        size += len(data)
        if size > max_bytes:
            if not truncate:
                raise _too_large(response, label, max_bytes)
            chunks.append(data[: len(data) - (size - max_bytes)])
            return b"".join(chunks)
        chunks.append(data)


def _body_inflater(response: requests.Response, label: str, truncate: bool) -> _Inflater | None:
    try:
        return _inflater(response, label)
    except QuoUnexpectedResponseError:
        if not truncate:
            raise
        return None  # an error body in an unknown encoding: its status still says what failed


class _ChunkReader:
    """Reads a streamed body piece by piece within the attempt's deadline, decompressing as it goes."""

    def __init__(
        self,
        response: requests.Response,
        label: str,
        inflater: _Inflater | None,
        deadline: float,
        read_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.response = response
        self.label = label
        self.inflater = inflater
        self.deadline = deadline
        self.read_timeout = read_timeout
        self.clock = clock

    def next_chunk(self, inflate_limit: int) -> bytes | None:
        """The next piece of the (decompressed) body, maybe empty (a gzip header alone); ``None`` at its end.

        :param inflate_limit: the most bytes to inflate.
        :raises zlib.error: for corrupt compressed data.
        """
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise _deadline_passed(self.label)
        inflater = self.inflater
        try:
            data = b"" if inflater is not None and inflater.pending else self._read(remaining)
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            if self.deadline - self.clock() <= _DEADLINE_SLACK:  # the socket wait was cut to what the deadline left
                raise _deadline_passed(self.label) from None
            raise QuoTimeoutError(f"{self.label} failed: ReadTimeout while reading the body") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:  # reset, cut off mid-body
            raise QuoConnectionError(f"{self.label} failed: {type(error).__name__} while reading the body") from None
        if inflater is not None and (data or inflater.pending):
            return inflater.inflate(data, inflate_limit)
        return data or None

    def _read(self, remaining: float) -> bytes:
        return _read_within(self.response, remaining, self.read_timeout)
