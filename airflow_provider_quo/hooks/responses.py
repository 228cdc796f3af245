"""What a successful response must hold to count: the checks of a mark's 200 and of a listing page."""

from __future__ import annotations

from typing import Any

from airflow_provider_quo.conversation_ids import describe_value


def marked_conversation_problem(body: dict[str, Any], conversation_id: str) -> str | None:
    """Why a mark's 200 body does not prove the mark (it must be the conversation, same id), or ``None``."""
    if not body:
        return "with an empty body instead of the conversation"
    returned = body.get("id")
    if returned is None:
        return "with an object that has no conversation id"
    if returned != conversation_id:
        return f"for conversation {describe_value(returned)}, not the requested {conversation_id!r}"
    return None


def listing_page_problem(page: dict[str, Any]) -> str | None:
    """Why a ``GET /v1/conversations`` body is not a page, or ``None``."""
    if "data" not in page:
        return "the listing page has no 'data' (empty body or another object)"
    if not isinstance(page["data"], list):
        return f"the listing page's 'data' is {type(page['data']).__name__}, not a list"
    token = page.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        return f"the listing page's 'nextPageToken' is {type(token).__name__}, not a string"
    return None
