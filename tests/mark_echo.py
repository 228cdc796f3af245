"""A requests-mock callback that answers a ``mark-as-*`` call like Quo: with the conversation it names."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit


def echo_conversation(request: Any, context: Any) -> dict[str, Any]:
    """The body of a successful mark: a conversation whose ``id`` is the (decoded) path segment sent."""
    segment = urlsplit(request.url).path.split("/")[3]
    return {"id": unquote(segment), "phoneNumberId": "PN1", "name": None, "deletedAt": None}
