"""What a successful response must hold to count: the checks of a mark's 200 and of a listing page."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests

from airflow_provider_quo.conversation_ids import describe_value
from airflow_provider_quo.exceptions import QuoError, QuoUnexpectedResponseError, describe_body
from airflow_provider_quo.redaction import scrub


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


def json_object(response: requests.Response, *, redact: str) -> dict[str, Any]:
    """The JSON object of a successful response (``{}`` for an empty body), with ``redact`` scrubbed if echoed.

    :param response: a response whose body was read.
    :param redact: the API key: a body that holds it (plain or escaped) never reaches the caller.
    :raises QuoUnexpectedResponseError: if the body is not a JSON object.
    """
    if not response.content:
        return {}
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        message = describe_body(response, redact=redact)
        raise QuoUnexpectedResponseError(status=response.status_code, title="Invalid response", message=message)
    checked: dict[str, Any] = body
    if redact in json.dumps(checked, ensure_ascii=False):
        checked = scrub(checked, redact)
    return checked


def follow_pages(
    fetch: Callable[[list[tuple[str, str]]], dict[str, Any]], params: Sequence[tuple[str, str]], max_pages: int
) -> Iterator[dict[str, Any]]:
    """Yield each checked page of a cursor-paged listing, following ``nextPageToken`` until it is null.

    :param fetch: sends the query and returns the page's body.
    :param params: the first page's query.
    :param max_pages: a safety cap on pages read.
    :raises QuoUnexpectedResponseError: for a body that is not a page.
    :raises QuoError: if the server repeats a token, or past ``max_pages``.
    """
    query = list(params)
    seen_tokens: set[str] = set()
    for _ in range(max_pages):
        page = fetch(query)
        problem = listing_page_problem(page)
        if problem:
            raise QuoUnexpectedResponseError(status=200, title="Unexpected response", message=problem)
        yield page
        token = page.get("nextPageToken")
        if not token:
            return
        if token in seen_tokens:
            raise QuoError(f"Quo returned page token {token!r} twice; stopping to avoid an endless loop")
        seen_tokens.add(token)
        query = [p for p in query if p[0] != "pageToken"] + [("pageToken", token)]
    raise QuoError(f"Stopped listing conversations after max_pages={max_pages} pages")
