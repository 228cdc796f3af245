"""The API's shapes in one place: paths, the listing's query, what a success must hold to count, and the
rate-limit fields every response carries."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from airflow_provider_quo.conversation_ids import describe_value
from airflow_provider_quo.exceptions import QuoError, QuoUnexpectedResponseError
from airflow_provider_quo.redaction import scrub

if TYPE_CHECKING:
    from typing_extensions import Unpack

log = logging.getLogger(__name__)

MarkAction = Literal["read", "done", "open"]
MARK_ACTIONS: tuple[MarkAction, ...] = ("read", "done", "open")
#: Quo's largest page, and the most phone numbers one listing may filter on.
MAX_PAGE_SIZE = 100
CONVERSATIONS = ("v1", "conversations")
PHONE_NUMBERS = ("v1", "phone-numbers")
#: Stated numbers above these are absurd and ignored.
MAX_QUOTA, MAX_SECONDS = 100_000.0, 86_400.0

_NUMBER = re.compile(r"\d{1,15}(?:\.\d{1,6})?")
_warned: set[str] = set()


def check_marked(
    body: dict[str, Any], conversation_id: str, action: MarkAction, *, redact: str | None = None
) -> dict[str, Any]:
    """``body``, the 200 of a mark, if it is the conversation with the id sent; ``redact`` (the API key, which a
    server may echo as the id) is kept out of the error.

    :raises QuoUnexpectedResponseError: for an empty body, no ``id``, or another id: the mark is not proven.
    """
    returned = body.get("id")
    if not body:
        problem = "with an empty body instead of the conversation"
    elif returned is None:
        problem = "with an object that has no conversation id"
    elif returned != conversation_id:
        problem = f"for conversation {describe_value(scrub(returned, redact))}, not the requested {conversation_id!r}"
    else:
        return body
    message = f"mark-as-{action} answered 200 {problem}"
    raise QuoUnexpectedResponseError(status=200, title="Unexpected response", message=message)


def iso_utc(value: datetime | str) -> str:
    """An ISO 8601 UTC timestamp such as ``2026-11-01T00:00:00.000Z``; strings pass through unchanged.

    :param value: a timezone-aware datetime or an ISO 8601 string.
    """
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: give it a timezone (UTC)")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ConversationFilters(TypedDict, total=False):
    """The filters of ``GET /v1/conversations``, each left out when ``None``: keywords of
    :meth:`~airflow_provider_quo.hooks.quo.QuoHook.iter_conversations`.

    :var phone_numbers: E.164 numbers or ``PN…`` ids (at most 100), sent as repeated ``phoneNumbers`` keys.
    :var user_id: only conversations accessible to this ``US…`` user.
    :var created_after: lower bound on ``createdAt``: a timezone-aware datetime or an ISO 8601 string.
    :var created_before: upper bound on ``createdAt``, likewise.
    :var updated_after: lower bound on ``updatedAt``, likewise.
    :var updated_before: upper bound on ``updatedAt``, likewise.
    :var exclude_inactive: Quo's ``excludeInactive`` flag.
    """

    phone_numbers: Iterable[str] | str | None
    user_id: str | None
    created_after: datetime | str | None
    created_before: datetime | str | None
    updated_after: datetime | str | None
    updated_before: datetime | str | None
    exclude_inactive: bool | None


def conversation_list_params(
    *, page_size: int = MAX_PAGE_SIZE, **filters: Unpack[ConversationFilters]
) -> list[tuple[str, str]]:
    """The query of a conversation listing as ordered pairs.

    :param page_size: ``maxResults``, 1-100.
    :param filters: any of :class:`ConversationFilters`.
    :raises TypeError: for a keyword that is not a filter.
    :raises ValueError: for a page size out of range, over 100 numbers or a naive datetime.
    """
    unknown = filters.keys() - ConversationFilters.__optional_keys__
    if unknown:
        raise TypeError(f"not a conversation filter: {', '.join(sorted(unknown))}")
    if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    phone_numbers = filters.get("phone_numbers")
    numbers = [phone_numbers] if isinstance(phone_numbers, str) else list(phone_numbers or [])
    if len(numbers) > MAX_PAGE_SIZE:
        raise ValueError(f"at most {MAX_PAGE_SIZE} phone_numbers per listing, got {len(numbers)}")
    params = [("maxResults", str(page_size))] + [("phoneNumbers", str(n).strip()) for n in numbers]
    if user_id := filters.get("user_id"):
        params.append(("userId", user_id))
    dates = {
        "createdAfter": filters.get("created_after"),
        "createdBefore": filters.get("created_before"),
        "updatedAfter": filters.get("updated_after"),
        "updatedBefore": filters.get("updated_before"),
    }
    params += [(name, iso_utc(value)) for name, value in dates.items() if value is not None]
    exclude_inactive = filters.get("exclude_inactive")
    if exclude_inactive is not None:
        params.append(("excludeInactive", "true" if exclude_inactive else "false"))
    return params


def _page_problem(page: dict[str, Any]) -> str | None:
    if not isinstance(page.get("data"), list):
        shown = type(page["data"]).__name__ if "data" in page else "missing (empty body or another object)"
        return f"the listing page's 'data' is {shown}, not a list"
    token = page.get("nextPageToken")
    if token is not None and not isinstance(token, str):
        return f"the listing page's 'nextPageToken' is {type(token).__name__}, not a string"
    return None


def follow_pages(
    fetch: Callable[[list[tuple[str, str]]], dict[str, Any]], params: list[tuple[str, str]], max_pages: int
) -> Iterator[Any]:
    """Yield every item of a cursor-paged listing from ``params`` on, following ``nextPageToken`` until it is
    null (``totalItems`` is never trusted); ``fetch`` sends a query and returns the page's body.

    :raises QuoUnexpectedResponseError: for a body that is not a page.
    :raises QuoError: if the server repeats a token, or past ``max_pages``.
    """
    seen: set[str] = set()
    query = params
    for _ in range(max_pages):
        page = fetch(query)
        problem = _page_problem(page)
        if problem:
            raise QuoUnexpectedResponseError(status=200, title="Unexpected response", message=problem)
        yield from page["data"]
        token = page.get("nextPageToken")
        if not token:
            return
        if token in seen:
            raise QuoError(f"Quo returned page token {token!r} twice; stopping to avoid an endless loop")
        seen.add(token)
        query = [pair for pair in params if pair[0] != "pageToken"] + [("pageToken", token)]
    raise QuoError(f"Stopped listing conversations after max_pages={max_pages} pages")


@dataclass(frozen=True)
class Reading:
    """What one response states: ``quota`` requests per ``window`` seconds, ``remaining`` (``r``) and
    ``reset`` (``t``); each ``None`` when not stated (or not readable)."""

    quota: float | None = None
    window: float | None = None
    remaining: float | None = None
    reset: float | None = None


def _number(text: str | None, limit: float) -> float | None:
    if text is None or not _NUMBER.fullmatch(text.strip()):
        return None
    number = float(text)
    return number if number <= limit else None


def _items(value: str) -> dict[str, dict[str, str]]:
    """A structured-field list as ``{name: {param: value}}`` (quotes dropped, names and keys lowercased)."""
    items: dict[str, dict[str, str]] = {}
    for member in value.split(","):
        name, *params = (piece.strip() for piece in member.split(";"))
        if "=" in name:  # no name at all: "q=10; w=1"
            name, params = "", [name, *params]
        pairs = (param.partition("=") for param in params)
        items.setdefault(name.strip('"').lower(), {key.strip().lower(): number for key, _, number in pairs})
    return items


def _warn_once(field: str, value: str) -> None:
    if field not in _warned:
        _warned.add(field)
        log.warning("Ignoring the server's %s header %r: not a rate-limit statement this client reads", field, value)


def read_rate_limit(headers: Mapping[str, str]) -> Reading | None:
    """What a response's rate-limit fields state, or ``None`` without any; never raises.

    Reads ``RateLimit-Policy``/``RateLimit`` (the most restrictive policy, with the ``RateLimit`` item of
    the same name, or the only one) and the older ``RateLimit-Limit``/``-Remaining``/``-Reset``. Anything
    malformed is ignored, with one warning per field.

    :param headers: the response headers (names are matched case-insensitively).
    """
    fields = {name.lower(): value for name, value in headers.items() if name.lower().startswith("ratelimit")}
    policies, remaining = _items(fields.get("ratelimit-policy", "")), _items(fields.get("ratelimit", ""))
    if "ratelimit-limit" in fields:  # the older fields: "10;w=1", "9", "1"
        policies = {"": _items(fields["ratelimit-limit"]).popitem()[1] | {"q": fields["ratelimit-limit"].split(";")[0]}}
        remaining = {"": {"r": fields.get("ratelimit-remaining", ""), "t": fields.get("ratelimit-reset", "")}}
    stated = {}
    for name, params in policies.items():
        quota, window = _number(params.get("q"), MAX_QUOTA), _number(params.get("w"), MAX_SECONDS)
        if quota and window:
            stated[name] = (quota / window, window, quota)
        elif params:
            _warn_once("RateLimit-Policy", fields.get("ratelimit-policy", fields.get("ratelimit-limit", "")))
    name, (_, window, quota) = min(stated.items(), key=lambda item: item[1][:2]) if stated else ("", (0, None, None))
    item = remaining.get(name) or (next(iter(remaining.values())) if len(remaining) == 1 else {})
    left, reset = _number(item.get("r"), MAX_QUOTA), _number(item.get("t"), MAX_SECONDS)
    if item.get("r") and left is None:
        _warn_once("RateLimit", fields.get("ratelimit", fields.get("ratelimit-remaining", "")))
    reading = Reading(quota, window, left, reset if left is not None else None)
    return None if reading == Reading() else reading
