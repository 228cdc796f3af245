"""Every secret the provider hides, hidden here: the API key in what goes out, a URL's password.

What goes out is text the provider builds (error messages, log lines, the summary's reasons) and what
it stores (XCom, the checkpoint); the data it decides on (response bodies, ids, names) is read as the
server sent it and never rewritten. As Airflow's own masker (``[logging] min_length_masked_secret``), a
secret shorter than :data:`MIN_SECRET_LENGTH` is left alone: replacing it would rewrite ordinary text.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

#: What a secret is replaced by.
REDACTED = "***"
#: Shorter secrets are not replaced (Airflow's ``[logging] min_length_masked_secret`` default).
MIN_SECRET_LENGTH = 5

Value = TypeVar("Value")


def scrub(value: Value, secret: str | None) -> Value:
    """``value`` with ``secret`` replaced by ``***`` in every string or bytes it holds (lists and dicts too).

    :param value: text, bytes, or JSON-like data.
    :param secret: the secret (the API key); ``None`` or shorter than :data:`MIN_SECRET_LENGTH`: ``value``
        unchanged.
    """
    if not secret or len(secret) < MIN_SECRET_LENGTH:
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
