"""Validation of the ``GET /v1/conversations`` query string, with Quo's 400 and 403 answers."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_quo.testing.bodies import ApiError, field_error
from airflow_provider_quo.testing.data import Conversation, PhoneNumber, parse_datetime

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
#: The spec's E.164 pattern for ``phoneNumbers`` items, with JavaScript semantics (``\d`` is ASCII).
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
#: The spec's other pattern, ``^PN(.*)$``: ``PN`` followed by anything is a well-formed phone number id.
PHONE_NUMBER_ID_PREFIX = "PN"
_DATE_PARAMS = ("createdAfter", "createdBefore", "updatedAfter", "updatedBefore")
_PAGING_PARAMS = ("maxResults", "pageToken")


@dataclass(frozen=True)
class ListQuery:
    """A validated conversation listing query.

    Bounds are half-open: ``createdAfter <= createdAt < createdBefore`` (same for ``updated*``).
    ``signature`` identifies the filters (not the paging), so a page token only works with them.
    """

    max_results: int
    page_token: str | None
    phone_number_ids: frozenset[str] | None
    user_id: str | None
    dates: dict[str, datetime]
    exclude_inactive: bool
    signature: str

    def matches(self, conversation: Conversation) -> bool:
        """Whether ``conversation`` passes every filter.

        :param conversation: the record.
        """
        if self.phone_number_ids is not None and conversation.phone_number_id not in self.phone_number_ids:
            return False
        if self.user_id is not None and conversation.assigned_to != self.user_id:
            return False
        if self.exclude_inactive and conversation.deleted_at is not None:
            return False
        for name, bound in self.dates.items():
            value = conversation.created_at if name.startswith("created") else conversation.updated_at
            if name.endswith("After") and value < bound:
                return False
            if name.endswith("Before") and value >= bound:
                return False
        return True


def _boolean(name: str, value: str, errors: list[dict[str, Any]]) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered not in ("false", "0", ""):
        errors.append(field_error(name, "Expected boolean", value, {"type": "boolean"}))
    return False


def _page_size(values: list[str], errors: list[dict[str, Any]]) -> int:
    if not values:
        return DEFAULT_PAGE_SIZE
    value = values[-1]
    schema = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
    try:
        size = int(value.strip())
    except ValueError:
        errors.append(field_error("maxResults", "Expected integer", value, schema))
        return DEFAULT_PAGE_SIZE
    if size < 1:
        errors.append(field_error("maxResults", "Expected integer to be greater or equal to 1", value, schema))
    elif size > MAX_PAGE_SIZE:
        message = f"Expected integer to be less or equal to {MAX_PAGE_SIZE}"
        errors.append(field_error("maxResults", message, value, schema))
    return size


def _phone_numbers(
    params: dict[str, list[str]], numbers: Sequence[PhoneNumber], errors: list[dict[str, Any]]
) -> tuple[frozenset[str] | None, list[str]]:
    """The ``PN…`` ids to filter on, and the well-formed values that are not workspace numbers.

    ``phoneNumbers`` takes 1-100 items; the deprecated ``phoneNumber`` adds to them without counting
    towards that limit (they are two parameters of the spec).
    """
    values = params.get("phoneNumbers", []) + params.get("phoneNumber", [])
    if not values:
        return None, []
    if len(params.get("phoneNumbers", [])) > MAX_PAGE_SIZE:
        schema = {"type": "array", "minItems": 1, "maxItems": MAX_PAGE_SIZE}
        message = f"Expected array length to be less or equal to {MAX_PAGE_SIZE}"
        errors.append(field_error("phoneNumbers", message, params["phoneNumbers"], schema))
    by_key = {n.id: n.id for n in numbers} | {n.number: n.id for n in numbers}
    ids: set[str] = set()
    foreign: list[str] = []
    for value in values:
        if value in by_key:
            ids.add(by_key[value])
        elif value.startswith(PHONE_NUMBER_ID_PREFIX) or E164.fullmatch(value):
            foreign.append(value)
        else:
            message = "Expected a phone number in E.164 format (+15555555555) or a phone number id (PN...)"
            errors.append(field_error("phoneNumbers", message, value, {"type": "string"}))
    return frozenset(ids), foreign


def parse_list_query(query: Sequence[tuple[str, str]], numbers: Sequence[PhoneNumber]) -> ListQuery:
    """Validate a listing query (decoded pairs, keys repeated for arrays).

    :param query: the decoded query pairs.
    :param numbers: the workspace's phone numbers.
    :raises ApiError: 400 with ``errors`` for a bad value; 403 "Not Phone Number User" for a well-formed
        number or ``PN…`` id outside the workspace.
    """
    params: dict[str, list[str]] = {}
    for key, value in query:
        params.setdefault(key, []).append(value)
    errors: list[dict[str, Any]] = []
    max_results = _page_size(params.get("maxResults", []), errors)
    token = params["pageToken"][-1] or None if "pageToken" in params else None  # an empty token: the first page
    phone_number_ids, foreign = _phone_numbers(params, numbers, errors)
    user_id = params["userId"][-1] if "userId" in params else None
    if user_id is not None and not re.fullmatch(r"US.*", user_id):
        errors.append(field_error("userId", "Expected string to match '^US(.*)$'", user_id, {"type": "string"}))
    dates: dict[str, datetime] = {}
    for name in _DATE_PARAMS:
        if name not in params:
            continue
        value = params[name][-1]
        try:
            parsed = parse_datetime(value)
        except ValueError:
            schema = {"type": "string", "format": "date-time"}
            errors.append(field_error(name, "Expected string to match 'date-time' format", value, schema))
            continue
        if parsed is not None:
            dates[name] = parsed
    exclude = "excludeInactive" in params and _boolean("excludeInactive", params["excludeInactive"][-1], errors)
    if errors:
        raise ApiError(400, "Invalid query parameters", errors)
    if foreign:
        raise ApiError(403, "Not Phone Number User")  # as Quo answers a number id it does not know
    filters = sorted((key, value) for key, value in query if key not in _PAGING_PARAMS)
    return ListQuery(
        max_results=max_results,
        page_token=token,
        phone_number_ids=phone_number_ids,
        user_id=user_id,
        dates=dates,
        exclude_inactive=exclude,
        signature=json.dumps(filters),
    )
