"""Response bodies: the documented error shape, the variants seen in the wild, and hostile payloads."""

from __future__ import annotations

import functools
import json
import uuid
import zlib
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

DOCS_URL = "https://quo.com/docs"
#: ``(code, title)`` of the error body per HTTP status (405, 429, 502 and 503 codes are not documented by Quo).
ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("1000400", "Bad Request"),
    401: ("1000401", "Unauthorized"),
    403: ("1001403", "Not Phone Number User"),
    404: ("1000404", "Not Found"),
    405: ("1000405", "Method Not Allowed"),
    429: ("1000429", "Too Many Requests"),
    500: ("1001500", "Unknown"),
    502: ("1001502", "Bad Gateway"),
    503: ("1001503", "Service Unavailable"),
}
JSON_TYPE = "application/json; charset=utf-8"
_HARDENING = ("gzip_bomb", "empty_200", "wrong_id", "forbidden_number", "listing_junk_items", "listing_data_object")
HTML_TYPE = "text/html; charset=utf-8"


@dataclass
class Response:
    """One HTTP response to write.

    :param status: HTTP status.
    :param body: the bytes of the body.
    :param content_type: ``Content-Type`` header, or ``None`` for none.
    :param headers: further headers.
    :param drip_seconds: if set, the body is written one byte at a time, this long before each byte.
    """

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    drip_seconds: float = 0.0


class ApiError(Exception):
    """Raised by request handling to answer with the documented error body.

    :param status: HTTP status (400, 401, 403, 404, 429 or 500).
    :param message: the body's ``message``.
    :param errors: the body's ``errors`` entries (see :func:`field_error`).
    """

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def field_error(name: str, message: str, value: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """One ``errors`` entry of a 400 body.

    :param name: the parameter (becomes the path ``/name``).
    :param message: what is wrong.
    :param value: the offending value.
    :param schema: the JSON Schema it broke (must have ``type``).
    """
    return {"path": f"/{name}", "message": message, "value": value, "schema": schema}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response.

    :param status: HTTP status.
    :param payload: what to serialize.
    :param headers: further headers.
    """
    return Response(status, json.dumps(payload).encode(), JSON_TYPE, dict(headers or {}))


def error_payload(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The documented v1 error body: ``message``, ``code``, ``status``, ``docs``, ``title``, ``trace``.

    :param status: HTTP status.
    :param message: the ``message``.
    :param errors: optional ``errors`` entries.
    """
    code, title = ERROR_CODES.get(status, (f"1000{status}", HTTPStatus(status).phrase))
    body: dict[str, Any] = {
        "message": message,
        "code": code,
        "status": status,
        "docs": DOCS_URL,
        "title": title,
        "trace": uuid.uuid4().hex,
    }
    if status == 403:
        body["description"] = title
    if errors:
        body["errors"] = errors
    return body


def html_page(status: int) -> bytes:
    """A proxy-style HTML error page.

    :param status: HTTP status.
    """
    phrase = f"{status} {HTTPStatus(status).phrase}"
    return (
        f"<html>\r\n<head><title>{phrase}</title></head>\r\n<body>\r\n<center><h1>{phrase}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def error_response(
    status: int,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    style: str = "json",
    headers: dict[str, str] | None = None,
) -> Response:
    """An error response in one of the body shapes of ``Faults.error_body``.

    :param status: HTTP status.
    :param message: the error message.
    :param errors: ``errors`` entries (``"json"`` style only).
    :param style: ``"json"``, ``"nested"``, ``"html"`` or ``"empty"``.
    :param headers: further headers.
    """
    headers = dict(headers or {})
    if style == "html":
        return Response(status, html_page(status), HTML_TYPE, headers)
    if style == "empty":
        return Response(status, b"", None, headers)
    if style == "nested":
        key = HTTPStatus(status).phrase.lower().replace(" ", "_")
        return json_response(status, {"error": {"message": message, "key": key, "trace": uuid.uuid4().hex}}, headers)
    return json_response(status, error_payload(status, message, errors), headers)


#: What ``listing_junk_items`` puts at the head of a page's ``data``: none of them is a usable conversation.
JUNK_ITEMS: list[Any] = [
    "CN00000000000000000000000000junk",
    42,
    None,
    True,
    ["CN0000000000000000000000000list"],
    {"name": "an object without an id", "lastActivityAt": "2020-01-01T00:00:00.000Z"},
    {"id": 7, "lastActivityAt": "2020-01-01T00:00:00.000Z"},
    {"id": "CN has a space", "lastActivityAt": "2020-01-01T00:00:00.000Z"},
]


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """A gzip body that inflates to ``size`` bytes of JSON whitespace-padded ``{}`` (256 MiB: ~255 KB).

    :param size: the decompressed size in bytes.
    """
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    parts = [packer.compress(b"{")]
    for start in range(0, max(0, size - 2), len(block)):
        parts.append(packer.compress(block[: min(len(block), size - 2 - start)]))
    parts.append(packer.compress(b"}") + packer.flush())
    return b"".join(parts)


def other_conversation(conversation_id: str | None) -> dict[str, Any]:
    """A conversation object whose ``id`` is not ``conversation_id`` (the ``wrong_id`` fault's 200 body).

    :param conversation_id: the id the request named.
    """
    other = "CN" + "0" * 29 + ("1" if conversation_id != "CN" + "0" * 29 + "1" else "2")
    return {
        "assignedTo": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "deletedAt": None,
        "id": other,
        "lastActivityAt": "2026-01-01T00:00:00.000Z",
        "lastActivityId": "AC" + "0" * 30,
        "mutedUntil": None,
        "name": None,
        "participants": ["+15555550100"],
        "phoneNumberId": "PN" + "0" * 30,
        "snoozedUntil": None,
        "updatedAt": "2026-01-01T00:00:00.000Z",
    }


def hardening_response(kind: str, bomb_bytes: int, conversation_id: str | None) -> Response:
    """The answer of a :data:`~airflow_provider_quo.testing.faults.HARDENING_KINDS` fault that replaces the
    normal answer (``drip`` and, on a listing, the ``listing_*`` kinds alter it instead: see the app).

    :param kind: the fault kind.
    :param bomb_bytes: the decompressed size of a ``gzip_bomb``.
    :param conversation_id: the id a mark named, if the request is a mark.
    """
    if kind == "gzip_bomb":
        return Response(200, gzip_bomb(bomb_bytes), JSON_TYPE, {"Content-Encoding": "gzip"})
    if kind == "empty_200":
        return Response(200, b"", JSON_TYPE)
    if kind == "wrong_id":
        return json_response(200, other_conversation(conversation_id))
    if kind == "forbidden_number":
        return error_response(403, "Not Phone Number User")
    if kind == "listing_data_object":
        return json_response(200, {"data": other_conversation(None), "totalItems": 1, "nextPageToken": None})
    return json_response(200, {"data": JUNK_ITEMS, "totalItems": len(JUNK_ITEMS), "nextPageToken": None})


def fault_response(
    kind: str,
    style: str,
    retry_after: float | None,
    huge_bytes: int,
    *,
    bomb_bytes: int = 256 * 1024 * 1024,
    conversation_id: str | None = None,
) -> Response:
    """The response of an error fault (``"500"``, ``"502"``, ``"503"``, ``"429"``) or a hostile kind.

    :param kind: the fault kind (not ``"drop"``, ``"slow"`` or ``"drip"``).
    :param style: the error body shape.
    :param retry_after: ``Retry-After`` seconds for a 429, or ``None``.
    :param huge_bytes: size of a ``"huge"`` body.
    :param bomb_bytes: decompressed size of a ``"gzip_bomb"`` body.
    :param conversation_id: the id a mark named (for ``"wrong_id"``).
    """
    if kind in _HARDENING:
        return hardening_response(kind, bomb_bytes, conversation_id)
    if kind == "malformed_json":
        return Response(200, b'{"data": [{"id": "CN0000000000000000000000000000", "phoneNumberId": "PN')
    if kind == "huge":
        return json_response(200, {"data": [], "totalItems": 0, "nextPageToken": None, "padding": "x" * huge_bytes})
    if kind == "wrong_content_type":
        return Response(200, b"<html><body><h1>Welcome</h1><p>Please sign in.</p></body></html>", HTML_TYPE)
    if kind == "html_error":
        return Response(500, html_page(500), HTML_TYPE)
    status = int(kind)
    if status == 429:
        return rate_limited(retry_after, style)
    return error_response(status, "Injected fault: the server failed to handle the request", style=style)


def rate_limited(retry_after: float | None, style: str = "json") -> Response:
    """A 429 answer, with ``Retry-After`` if ``retry_after`` is set.

    :param retry_after: seconds, or ``None`` for no header.
    :param style: the error body shape.
    """
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
    return error_response(429, "Rate limit exceeded: too many requests", style=style, headers=headers)
