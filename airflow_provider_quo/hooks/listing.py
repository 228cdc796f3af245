"""Query parameters of ``GET /v1/conversations`` built from Python arguments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

#: Quo's largest page, and the most phone numbers one listing may filter on.
MAX_PAGE_SIZE = 100


def iso_utc(value: datetime | str) -> str:
    """An ISO 8601 UTC timestamp such as ``2026-11-01T00:00:00.000Z``; strings pass through unchanged.

    :param value: a timezone-aware datetime or an ISO 8601 string.
    """
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: give it a timezone (UTC)")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def conversation_list_params(
    *,
    page_size: int = MAX_PAGE_SIZE,
    phone_numbers: Iterable[str] | str | None = None,
    user_id: str | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    updated_after: datetime | str | None = None,
    updated_before: datetime | str | None = None,
    exclude_inactive: bool | None = None,
) -> list[tuple[str, str]]:
    """The query of a conversation listing as ordered pairs (``phoneNumbers`` repeated per number).

    :param page_size: ``maxResults``, 1-100.
    :param phone_numbers: E.164 numbers or ``PN…`` ids, at most 100.
    :param user_id: a ``US…`` id.
    :param created_after: lower bound on ``createdAt``.
    :param created_before: upper bound on ``createdAt``.
    :param updated_after: lower bound on ``updatedAt``.
    :param updated_before: upper bound on ``updatedAt``.
    :param exclude_inactive: Quo's ``excludeInactive`` flag.
    """
    if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    numbers = [phone_numbers] if isinstance(phone_numbers, str) else list(phone_numbers or [])
    if len(numbers) > MAX_PAGE_SIZE:
        raise ValueError(f"at most {MAX_PAGE_SIZE} phone_numbers per listing, got {len(numbers)}")
    params = [("maxResults", str(page_size))] + [("phoneNumbers", str(n).strip()) for n in numbers]
    if user_id:
        params.append(("userId", user_id))
    dates = {
        "createdAfter": created_after,
        "createdBefore": created_before,
        "updatedAfter": updated_after,
        "updatedBefore": updated_before,
    }
    params += [(name, iso_utc(value)) for name, value in dates.items() if value is not None]
    if exclude_inactive is not None:
        params.append(("excludeInactive", "true" if exclude_inactive else "false"))
    return params
