"""Every secret the provider hides, hidden here: the API key in any text, bytes or JSON, a URL's password."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

#: What a secret is replaced by.
REDACTED = "***"

Value = TypeVar("Value")


def scrub(value: Value, secret: str | None) -> Value:
    """``value`` with ``secret`` replaced by ``***`` in every string or bytes it holds (lists and dicts too).

    :param value: text, bytes, or JSON-like data.
    :param secret: the secret (the API key); ``None`` or ``""``: ``value`` unchanged.
    """
    if not secret:
        return value
    return _scrub(value, secret)  # type: ignore[no-any-return]


def _scrub(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, bytes):
        return value.replace(secret.encode(), REDACTED.encode())
    if isinstance(value, list):
        return [_scrub(item, secret) for item in value]
    if isinstance(value, dict):
        return {_scrub(key, secret): _scrub(item, secret) for key, item in value.items()}
    return value


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for messages and logs.

    :param url: a URL such as ``redis://:secret@host:6379/0``.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = f"{parts.username}:" if parts.username else ":"
    return parts._replace(netloc=f"{user}{REDACTED}@{netloc[-1]}").geturl()
