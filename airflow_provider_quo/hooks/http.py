"""One attempt of a Quo request: its slot in the key's budget, the response read within bounds, what the
server stated about the budget, and the typed error of anything but a success."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from airflow_provider_quo import __version__
from airflow_provider_quo.dispositions import TRANSIENT_TRANSPORT_ERRORS, disposition
from airflow_provider_quo.exceptions import (
    QuoConnectionError,
    QuoConnectionRefusedError,
    QuoError,
    QuoTimeoutError,
    QuoTLSError,
    QuoUnexpectedResponseError,
    describe_body,
    error_from_response,
)
from airflow_provider_quo.hooks.api import read_rate_limit
from airflow_provider_quo.hooks.budget import KeyBudget
from airflow_provider_quo.hooks.settings import is_loopback

#: A server's ``Retry-After`` longer than this is capped: the key's pause after a 429 and the retry's wait alike.
MAX_RETRY_AFTER = 60.0
#: Connections kept alive per host: enough for the largest default pool of workers.
POOL_MAXSIZE = 64
#: Largest response body read, after decompression: a conversation is ~500 bytes, a 100-item page ~60 KB.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Bytes asked of the socket, and most bytes inflated, per step.
CHUNK_BYTES = 64 * 1024
#: The only encodings asked for (never ``br``/``zstd``, which requests adds when their packages are installed).
ACCEPT_ENCODING = "gzip, deflate"
#: The encodings a body may come in, and whether each is inflated.
ENCODINGS = {"identity": False, "gzip": True, "x-gzip": True, "deflate": True}


def build_session(api_key: str, base_url: str) -> requests.Session:
    """A keep-alive session that sends ``Authorization: <api_key>`` (no ``Bearer``) and JSON ``Accept``.

    Its connection pool is thread-safe, so one session serves every worker thread of a bulk run. Proxies
    (``NO_PROXY`` applied to ``base_url``) and the CA bundle are read from the environment once: with
    ``trust_env`` requests would re-scan them, and ``~/.netrc`` (which would replace the key), per request.
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
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session


def send_once(
    session: requests.Session,
    budget: KeyBudget,
    request: tuple[str, str, Sequence[tuple[str, str]] | None],
    *,
    timeout: tuple[float, float],
    api_key: str,
    stop: threading.Event | None = None,
) -> Any:
    """Send ``request`` (method, URL, query pairs) once the key's ``budget`` allows, tell the budget what the
    response stated, and return its decoded JSON body; errors never hold ``api_key``.

    :param timeout: ``(connect, read)``; their sum is the attempt's deadline, body included.
    :param stop: a bulk run's stop event: once set, a request still waiting for its slot is not sent.
    """
    method, url, params = request
    budget.acquire(stop)
    label = f"{method} {url}"
    sent = time.monotonic()
    try:
        response = session.request(method, url, params=params, timeout=timeout, allow_redirects=False, stream=True)
    except requests.RequestException as error:
        raise transport_error(error, label, url) from None  # requests' errors hold the Authorization header
    failed = response.status_code >= 300  # a redirect would turn a POST into a GET: an error
    read_body(response, label=label, deadline=sent + sum(timeout), read_timeout=timeout[1], truncate=failed)
    failure = error_from_response(response, redact=api_key) if failed else None
    limited = failure is not None and not disposition(failure).spends_budget  # a 429: the key pauses
    retry_after = getattr(failure, "retry_after", None) if limited else None
    if retry_after is not None:
        retry_after = min(retry_after, MAX_RETRY_AFTER)
    budget.observe(read_rate_limit(response.headers), time.monotonic() - sent, limited=limited, retry_after=retry_after)
    if failure is not None:
        raise failure
    return json_object(response, api_key)


def json_object(response: requests.Response, api_key: str) -> dict[str, Any]:
    """The JSON object of a successful response whose body was read (``{}`` for an empty body).

    :raises QuoUnexpectedResponseError: if the body is not a JSON object (its excerpt without ``api_key``).
    """
    if not response.content:
        return {}
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        message = describe_body(response, redact=api_key)
        raise QuoUnexpectedResponseError(status=response.status_code, title="Invalid response", message=message)
    return body


def transport_error(error: requests.RequestException, label: str, url: str) -> QuoError:
    """The typed error of a request to ``url`` that got no response: TLS, timeout, connection, or unsendable.
    The caller never chains ``error``: it holds the Authorization header."""
    cause = " ".join(str(error).split())[:300]
    if isinstance(error, requests.exceptions.SSLError):  # a ConnectionError, but retrying cannot fix it
        hint = " (is this an http:// server? A base URL without a scheme means https://)"
        return QuoTLSError(
            f"{label} failed: TLS error: {cause}{hint if is_loopback(urlsplit(url).hostname or '') else ''}"
        )
    if isinstance(error, requests.Timeout):
        return QuoTimeoutError(f"{label} failed: {type(error).__name__}: {cause}")
    if _refused(error):
        return QuoConnectionRefusedError(f"{label} failed: connection refused by {urlsplit(url).netloc}")
    if isinstance(error, TRANSIENT_TRANSPORT_ERRORS):
        return QuoConnectionError(f"{label} failed: {type(error).__name__}: {cause}")
    return QuoError(f"{label} could not be sent: {type(error).__name__}")  # a bad URL or header


def _refused(error: BaseException) -> bool:
    """Whether nothing listens at the host's port (a wrong host or port, a server not started)."""
    seen: set[int] = set()
    chain = [error]
    while chain:
        cause = chain.pop()
        if isinstance(cause, ConnectionRefusedError):
            return True
        if id(cause) not in seen:
            seen.add(id(cause))
            linked = (getattr(cause, "reason", None), cause.__cause__, cause.__context__, *cause.args)
            chain += [link for link in linked if isinstance(link, BaseException)]
    return False


def read_body(
    response: requests.Response,
    *,
    label: str,
    deadline: float,
    read_timeout: float,
    max_bytes: int = MAX_BODY_BYTES,
    truncate: bool = False,
) -> bytes:
    """Read the body of a ``stream=True`` response by ``deadline`` (:func:`time.monotonic`), waiting at most
    ``read_timeout`` per socket read; ``label`` (``"METHOD url"``) names it in errors.

    A drip-fed body cannot outlive ``deadline``, and no body, compressed or not, takes more than
    ``max_bytes`` (plus one chunk) of memory: a gzip bomb is inflated a bounded step at a time. The
    connection goes back to the pool after a whole body, and is closed otherwise.

    :param max_bytes: the cap on the decompressed body.
    :param truncate: keep the first ``max_bytes`` instead of raising (error bodies, read for an excerpt).
    :raises QuoTimeoutError: past the deadline.
    :raises QuoUnexpectedResponseError: beyond ``max_bytes``, or for an unknown or corrupt encoding.
    :raises QuoConnectionError: if the connection fails mid-body.
    """
    try:
        body = _read_capped(response, label, deadline, read_timeout, max_bytes, truncate)
    except BaseException:
        response.close()  # a body left half-read: never hand this connection to another request
        raise
    response._content = body  # what .content and .json() use
    response._content_consumed = True  # type: ignore[attr-defined]
    response.close()
    return body


def _decoder(deflate: bool, first: bytes) -> Any:
    """A bounded inflater; ``deflate`` is zlib-wrapped by the RFC, but raw deflate is common too."""
    wrapped = len(first) < 2 or (first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0)
    return zlib.decompressobj(zlib.MAX_WBITS | 32 if not deflate or wrapped else -zlib.MAX_WBITS)


def _invalid(response: requests.Response, message: str, title: str) -> QuoUnexpectedResponseError:
    return QuoUnexpectedResponseError(status=response.status_code, title=title, message=message)


def _read_capped(
    response: requests.Response, label: str, deadline: float, read_timeout: float, max_bytes: int, truncate: bool
) -> bytes:
    length = response.headers.get("Content-Length", "").strip()
    too_large = f"{label}: response body larger than {max_bytes} bytes (decompressed); not read further"
    if length.isdigit() and int(length) > max_bytes and not truncate:
        raise _invalid(response, too_large, "Response too large")
    encoding = (response.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ENCODINGS and not truncate:  # an error body in an unknown encoding: its status tells
        raise _invalid(response, f"{label}: unsupported Content-Encoding {encoding!r}", "Invalid response")
    decoder, body = None, bytearray()
    while True:
        pending = decoder.unconsumed_tail if decoder is not None else b""  # what the last bounded step left
        data = pending or _read_within(response, label, deadline, read_timeout)
        if not data:
            return bytes(body)
        if decoder is None and ENCODINGS.get(encoding):
            decoder = _decoder(encoding == "deflate", data)
        try:
            body += decoder.decompress(data, min(CHUNK_BYTES, max_bytes + 1 - len(body))) if decoder else data
        except zlib.error:
            if truncate:
                return bytes(body)
            message = f"{label}: the body is not valid {response.headers.get('Content-Encoding')} data"
            raise _invalid(response, message, "Invalid response") from None
        if len(body) > max_bytes:
            if truncate:
                return bytes(body[:max_bytes])
            raise _invalid(response, too_large, "Response too large")


def _read_within(response: requests.Response, label: str, deadline: float, read_timeout: float) -> bytes:
    """One socket read of the body, waiting at most ``min(read_timeout, what the deadline leaves)``."""
    late = f"{label} failed: Timeout: no complete response within the attempt's deadline"
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise QuoTimeoutError(late)
    with contextlib.suppress(AttributeError, OSError):  # requests-mock bodies have no socket
        response.raw.connection.sock.settimeout(max(0.001, min(read_timeout, remaining)))  # type: ignore[union-attr]
    read = getattr(response.raw, "read1", None) or response.raw.read
    try:
        return bytes(read(CHUNK_BYTES, decode_content=False) or b"")
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        cut = deadline - time.monotonic() <= 0.05  # the socket wait was cut to what the deadline left
        raise QuoTimeoutError(late if cut else f"{label} failed: ReadTimeout while reading the body") from None
    except (urllib3.exceptions.HTTPError, OSError) as error:  # reset, cut off mid-body
        raise QuoConnectionError(f"{label} failed: {type(error).__name__} while reading the body") from None
