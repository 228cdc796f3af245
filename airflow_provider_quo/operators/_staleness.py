"""Which listed conversations are stale: the rule, kept apart from Airflow so it is easy to test."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


def parse_api_datetime(value: Any) -> datetime | None:
    """A timezone-aware datetime from an API date-time string (``...Z`` or an offset); ``None`` if absent."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # the API documents UTC: read a value without an offset as UTC (comparing naive and aware fails)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class StalenessRule:
    """A conversation is stale when its last activity is before ``cutoff`` and no exclusion applies.

    A conversation with no ``lastActivityAt`` falls back to its ``createdAt``; with neither it is
    never stale.

    :param cutoff: last activity strictly before this instant makes a conversation stale.
    :param now: the run's reference time, to tell whether snoozes and mutes are still running.
    :param include_deleted: select conversations with ``deletedAt`` set.
    :param include_snoozed: select conversations snoozed past ``now``.
    :param include_muted: select conversations muted past ``now``.
    """

    cutoff: datetime
    now: datetime
    include_deleted: bool = False
    include_snoozed: bool = False
    include_muted: bool = True

    def verdict(self, conversation: dict[str, Any]) -> str:
        """``"selected"`` or why not: ``"recent"``, ``"deleted"``, ``"snoozed"``, ``"muted"``, ``"no_activity"``,
        ``"unparseable"``.

        :param conversation: a conversation object from the API.
        """
        if conversation.get("deletedAt") and not self.include_deleted:
            return "deleted"
        raw_last = conversation.get("lastActivityAt") or conversation.get("createdAt")
        if raw_last is None:
            return "no_activity"
        last = parse_api_datetime(raw_last)
        if last is None:  # never guess: an unreadable date could hide recent activity
            return "unparseable"
        if last >= self.cutoff:
            return "recent"
        for field, reason, included in (
            ("snoozedUntil", "snoozed", self.include_snoozed),
            ("mutedUntil", "muted", self.include_muted),
        ):
            raw_until = conversation.get(field)
            if not raw_until or included:
                continue
            until = parse_api_datetime(raw_until)
            if until is None:
                return "unparseable"
            if until > self.now:
                return reason
        return "selected"


def tally(verdicts: Counter[str]) -> dict[str, int]:
    """The skip counts of a selection, for the summary (``skipped_<reason>`` keys)."""
    return {f"skipped_{reason}": count for reason, count in sorted(verdicts.items()) if reason != "selected"}
