"""What a DAG hands an operator, parsed: conversation ids in every form a template renders them (each id
validated), and the flags, counts and string lists of the operators' templated arguments."""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from airflow_provider_quo.exceptions import QuoInvalidConversationIdError

#: Prefix every conversation id has (the spec's pattern is ``^CN(.*)$``).
CONVERSATION_ID_PREFIX = "CN"
#: Longest id accepted; real ids are about 34 characters.
MAX_CONVERSATION_ID_LENGTH = 256
#: How many bad values an error message lists.
MAX_LISTED_BAD_VALUES = 20
#: The only characters trimmed around an id, and (with commas) the only separators in a string of ids:
#: plain ASCII space, tab, CR and LF. Any other space, control or separator character (U+001F, U+00A0,
#: U+2028, a zero-width space...) stays where it is and makes the id invalid: an id is never rewritten.
PLAIN_WHITESPACE = " \t\r\n"
_STRING_SEPARATORS = re.compile(r"[, \t\r\n]+")
_CATEGORY_NAMES = {
    "Cc": "a control character",
    "Cf": "a format character",
    "Zs": "a space",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
}


def describe_value(value: Any, limit: int = 60) -> str:
    """A short, printable ``repr`` of a bad value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 15]}...({len(text)} chars)"


def conversation_id_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid conversation id, or ``None`` if it is one."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    # isprintable() is False for control, format, separator (but " "), surrogate and unassigned characters.
    for position, char in enumerate(value[: MAX_CONVERSATION_ID_LENGTH + 1]):
        if char == " " or not char.isprintable():
            kind = _CATEGORY_NAMES.get(unicodedata.category(char), "a non-printable character")
            return f"contains whitespace or control characters (U+{ord(char):04X}, {kind}, at index {position})"
    if not value.startswith(CONVERSATION_ID_PREFIX):
        return f"must start with {CONVERSATION_ID_PREFIX!r}"
    if len(value) == len(CONVERSATION_ID_PREFIX):
        return f"needs characters after {CONVERSATION_ID_PREFIX!r}"
    if len(value) > MAX_CONVERSATION_ID_LENGTH:
        return f"longer than {MAX_CONVERSATION_ID_LENGTH} characters"
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
    stripped = text.strip(PLAIN_WHITESPACE)
    if not stripped.startswith("["):
        return [token for token in _STRING_SEPARATORS.split(stripped) if token]
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


def partition_conversation_ids(value: Any, *, skip_invalid: bool = True) -> tuple[list[str], list[str]]:
    """Split ``value`` into its distinct valid ids (first-seen order) and its invalid entries described.

    Accepts one id, a list/tuple/set (or any non-string iterable) of ids, a comma- or whitespace-separated
    string, a JSON list string (``tojson``), or a Python list repr (what a plain Jinja ``xcom_pull``
    renders to). Plain spaces, tabs, CR and LF around an id are trimmed and blank entries dropped; an id
    with any other space, control or separator character, wherever it is, is invalid. Each invalid entry
    is listed once as ``"<repr> (<problem>)"``.

    :param value: the ids in any of the forms above.
    :param skip_invalid: return the invalid entries; ``False``: raise if there is any.
    :raises QuoInvalidConversationIdError: if ``value`` is not a form of ids at all (``None``, a dict...),
        or, unless ``skip_invalid``, listing up to 20 bad values if any id is invalid.
    """
    if value is None:
        raise QuoInvalidConversationIdError("conversation_ids is None: pass an id, a list of ids or a JSON list")
    if isinstance(value, str):
        value = split_list_string(value)
    elif isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise QuoInvalidConversationIdError(
            f"conversation_ids must be a string or a list of strings, got {type(value).__name__}: "
            f"{describe_value(value)}"
        )
    ids: dict[str, None] = {}
    bad: dict[str, None] = {}
    for item in value:
        candidate = item.strip(PLAIN_WHITESPACE) if isinstance(item, str) else item
        if candidate == "":
            continue
        problem = conversation_id_problem(candidate)
        if problem:
            bad[f"{describe_value(item)} ({problem})"] = None
        else:
            ids[candidate] = None
    if bad and not skip_invalid:
        listed = ", ".join(list(bad)[:MAX_LISTED_BAD_VALUES])
        more = f" and {len(bad) - MAX_LISTED_BAD_VALUES} more" if len(bad) > MAX_LISTED_BAD_VALUES else ""
        raise QuoInvalidConversationIdError(f"{len(bad)} invalid conversation id(s), nothing was sent: {listed}{more}")
    return list(ids), list(bad)


def parse_conversation_ids(value: Any) -> list[str]:
    """The distinct valid ids of ``value`` (any form :func:`partition_conversation_ids` accepts), in first-seen
    order; every id is checked before this returns.

    :param value: the ids.
    :raises QuoInvalidConversationIdError: listing up to 20 bad values, if any id is invalid.
    """
    return partition_conversation_ids(value, skip_invalid=False)[0]


def as_bool(value: Any, name: str) -> bool:
    """A bool from a bool or a rendered string such as ``"True"`` or ``"false"``.

    :param value: the value.
    :param name: the argument's name, for the error message.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    # An empty render (a missing param) is an error, never a silent False: dry_run must not flip to a real run.
    raise ValueError(f"{name} must be true or false, got {value!r}")


def as_optional_int(value: Any, name: str, *, minimum: int = 1) -> int | None:
    """An int of at least ``minimum``, or ``None`` for ``None``/``""``/``"None"``.

    :param value: the value.
    :param name: the argument's name, for the error message.
    :param minimum: the smallest value allowed.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, int) or isinstance(value, bool) else value
    except ValueError:
        number = None
    if number is None or isinstance(value, bool) or number < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return number


def as_string_list(value: Any, name: str) -> list[str]:
    """A list of non-empty strings from a list, a JSON list string or a comma/space separated string.

    :param value: the value; ``None`` or ``""`` give an empty list.
    :param name: the argument's name, for the error message.
    """
    if value is None:
        return []
    if isinstance(value, str):
        value = split_list_string(value, name)
    if not isinstance(value, Iterable) or isinstance(value, (bytes, dict)):
        raise ValueError(f"{name} must be a list of strings, got {value!r}")
    items = list(value)
    bad = [item for item in items if not isinstance(item, str)]
    if bad:
        raise ValueError(f"{name} must contain only strings, got {bad[:5]!r}")
    return [item.strip() for item in items if item.strip()]
