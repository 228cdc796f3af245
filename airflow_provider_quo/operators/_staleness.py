"""Which listed conversations are stale, and since when: the rule, kept apart from Airflow so it is easy to test."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: The smallest step of a datetime: "idle for longer than" is strict, so a conversation becomes stale
#: one microsecond after its last activity plus the idle age.
TICK = timedelta(microseconds=1)
#: Verdicts of a conversation that is stale at the run's time.
STALE_REASONS = ("idle", "snooze_ended", "mute_ended")
#: Longest ``older_than`` accepted (about 100 years), so a cutoff never overflows.
MAX_DURATION = timedelta(days=36_500)
_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def _parse_duration(value: Any, name: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(days=value)
    if isinstance(value, str):
        text = value.strip().upper()
        match = _ISO_DURATION.match(text)
        if match and text not in ("P", "PT") and not text.endswith("T"):
            return timedelta(**{k: float(v) for k, v in match.groupdict().items() if v})
        try:
            return timedelta(days=float(text))
        except ValueError:
            pass
    raise ValueError(
        f"{name} must be a timedelta, a number of days or an ISO 8601 duration such as 'P7D' or 'PT36H' "
        f"(years and months are ambiguous), got {value!r}"
    )


def as_duration(value: Any, name: str) -> timedelta:
    """A positive timedelta from a timedelta, a number of days, or an ISO 8601 duration (``P7D``, ``PT36H``).

    :param value: the value.
    :param name: the argument's name, for the error message.
    """
    try:
        duration = _parse_duration(value, name)
    except OverflowError:
        duration = MAX_DURATION * 2
    if not timedelta(0) < duration <= MAX_DURATION:
        raise ValueError(f"{name} must be positive and at most {MAX_DURATION.days} days, got {value!r}")
    return duration


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
class Assessment:
    """What the rule says of one conversation.

    :param verdict: ``"idle"``, ``"snooze_ended"`` or ``"mute_ended"`` when it is stale at the run's
        time (why it became stale last), else why not: ``"recent"``, ``"deleted"``, ``"snoozed"``,
        ``"muted"``, ``"no_activity"``, ``"unparseable"``.
    :param stale_since: for a stale conversation, the first instant at which it was stale.
    """

    verdict: str
    stale_since: datetime | None = None


@dataclass(frozen=True)
class StalenessRule:
    """A conversation is stale when its last activity is before ``cutoff`` and no exclusion applies.

    A conversation with no ``lastActivityAt`` falls back to its ``createdAt``; with neither it is
    never stale. A snooze (or, with ``include_muted=False``, a mute) holds it back until it ends, so
    it became stale at ``max(last activity + idle age + 1 µs, snoozedUntil)``: the instant the
    incremental window (:mod:`~airflow_provider_quo.operators.watermark`) compares with its bounds.

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

    def assess(self, conversation: dict[str, Any]) -> Assessment:
        """Whether ``conversation`` is stale at ``now``, and since when.

        :param conversation: a conversation object from the API.
        """
        if conversation.get("deletedAt") and not self.include_deleted:
            return Assessment("deleted")
        raw_last = conversation.get("lastActivityAt") or conversation.get("createdAt")
        if raw_last is None:
            return Assessment("no_activity")
        last = parse_api_datetime(raw_last)
        if last is None:  # never guess: an unreadable date could hide recent activity
            return Assessment("unparseable")
        if last >= self.cutoff:
            return Assessment("recent")
        verdict, since = "idle", last + (self.now - self.cutoff) + TICK
        for field, reason, included in (
            ("snoozedUntil", "snoozed", self.include_snoozed),
            ("mutedUntil", "muted", self.include_muted),
        ):
            raw_until = conversation.get(field)
            if not raw_until or included:
                continue
            until = parse_api_datetime(raw_until)
            if until is None:
                return Assessment("unparseable")
            if until > self.now:
                return Assessment(reason)
            if until > since:  # the hold ended after the idle age was reached: that made it stale
                verdict, since = f"{reason.removesuffix('d')}_ended", until
        return Assessment(verdict, since)


def tally(verdicts: Counter[str]) -> dict[str, int]:
    """The skip counts of a selection, for the summary (``skipped_<reason>`` keys).

    :param verdicts: how many conversations got each skip verdict.
    """
    return {f"skipped_{reason}": count for reason, count in sorted(verdicts.items()) if reason != "selected"}
