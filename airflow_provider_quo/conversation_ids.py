"""Conversation ids: validation of one id and parsing of every form a DAG can hand over."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from typing import Any

from airflow_provider_quo.exceptions import QuoInvalidConversationIdError

#: Prefix every conversation id has (the spec's pattern is ``^CN(.*)$``).
CONVERSATION_ID_PREFIX = "CN"
#: Longest id accepted; real ids are about 34 characters.
MAX_CONVERSATION_ID_LENGTH = 256
#: How many bad values an error message lists.
MAX_LISTED_BAD_VALUES = 20


def describe_value(value: Any, limit: int = 60) -> str:
    """A short, printable ``repr`` of a bad value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 15]}...({len(text)} chars)"


def conversation_id_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid conversation id, or ``None`` if it is one."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value.startswith(CONVERSATION_ID_PREFIX):
        return f"must start with {CONVERSATION_ID_PREFIX!r}"
    if len(value) == len(CONVERSATION_ID_PREFIX):
        return f"needs characters after {CONVERSATION_ID_PREFIX!r}"
    if len(value) > MAX_CONVERSATION_ID_LENGTH:
        return f"longer than {MAX_CONVERSATION_ID_LENGTH} characters"
    # isprintable() is False for control, format, surrogate, unassigned and every space but " ".
    if not value.isprintable() or " " in value:
        return "contains whitespace or control characters"
    return None


def validate_conversation_id(value: Any) -> str:
    """Return ``value`` if it is a valid conversation id, else raise naming the value.

    :param value: the candidate id.
    :raises QuoInvalidConversationIdError: if the API would reject it.
    """
    problem = conversation_id_problem(value)
    if problem:
        raise QuoInvalidConversationIdError(f"Invalid conversation id {describe_value(value)}: {problem}")
    return str(value)


def split_list_string(text: str, name: str = "conversation_ids") -> list[Any]:
    """The items of a rendered list: a JSON list, a Python-literal list (``str(list)``), or a comma- or
    whitespace-separated string.

    :param text: the string.
    :param name: the argument's name, for the error message.
    :raises QuoInvalidConversationIdError: (a ``ValueError``) if it looks like a list but does not parse.
    """
    stripped = text.strip()
    if not stripped.startswith("["):
        return stripped.replace(",", " ").split()
    try:
        loaded = json.loads(stripped)
    except (ValueError, RecursionError):
        try:  # a Python-literal list, as str(list) renders: ['CN1', 'CN2']
            loaded = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise QuoInvalidConversationIdError(
                f"{name} looks like a JSON list but does not parse: {describe_value(text)}"
            ) from None
    if not isinstance(loaded, list):
        raise QuoInvalidConversationIdError(f"{name}: expected a JSON list, got {describe_value(text)}")
    return loaded


def parse_conversation_ids(value: Any) -> list[str]:
    """Normalise ``value`` to a de-duplicated list of valid ids, keeping first-seen order.

    Accepts one id, a list/tuple/set (or any non-string iterable) of ids, a comma- or
    whitespace-separated string, or a JSON list string (what a Jinja ``xcom_pull`` renders to).
    Ids are stripped and empty entries dropped. Every id is checked before this returns.

    :param value: the ids in any of the forms above.
    :raises QuoInvalidConversationIdError: listing up to 20 bad values, if any id is invalid.
    """
    if value is None:
        raise QuoInvalidConversationIdError("conversation_ids is None: pass an id, a list of ids or a JSON list")
    if isinstance(value, str):
        items: Iterable[Any] = split_list_string(value)
    elif isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise QuoInvalidConversationIdError(
            f"conversation_ids must be a string or a list of strings, got {type(value).__name__}: "
            f"{describe_value(value)}"
        )
    else:
        items = value
    ids: dict[str, None] = {}
    bad: list[str] = []
    for item in items:
        candidate = item.strip() if isinstance(item, str) else item
        if candidate == "":
            continue
        problem = conversation_id_problem(candidate)
        if problem:
            bad.append(f"{describe_value(item)} ({problem})")
        else:
            ids[candidate] = None
    if bad:
        listed = ", ".join(bad[:MAX_LISTED_BAD_VALUES])
        more = f" and {len(bad) - MAX_LISTED_BAD_VALUES} more" if len(bad) > MAX_LISTED_BAD_VALUES else ""
        raise QuoInvalidConversationIdError(f"{len(bad)} invalid conversation id(s), nothing was sent: {listed}{more}")
    return list(ids)
