"""The simulator's records (conversations, phone numbers) and the deterministic seed data."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

_ALPHABET = string.ascii_letters + string.digits
_AREA_CODES = ("415", "628", "212", "646", "312", "737", "206", "617")
_LINE_NAMES = ("Main line", "Support", "Sales", "Billing", "Front desk", "After hours")
_FIRST_NAMES = ("Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Radia")
_LAST_NAMES = ("Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Liskov", "Thompson", "Perlman")
#: Span of seeded ``lastActivityAt`` values before ``now``.
ACTIVITY_SPAN = timedelta(days=120)


def utc(value: datetime) -> datetime:
    """``value`` in UTC, truncated to milliseconds (naive values are taken as UTC).

    :param value: a datetime.
    """
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp with milliseconds (``2026-11-01T00:00:00.000Z``), or ``None``.

    :param value: an aware datetime or ``None``.
    """
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_datetime(value: datetime | str | None) -> datetime | None:
    """A datetime or ISO 8601 string as an aware UTC datetime (``None`` stays ``None``).

    :param value: the value; strings must carry ``Z`` or an offset.
    :raises ValueError: for an unparsable string or one without a timezone.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} has no timezone (add Z or an offset)")
        return utc(parsed)
    return utc(value)


def random_id(rng: random.Random, prefix: str, length: int) -> str:
    """``prefix`` followed by ``length`` random letters and digits.

    :param rng: the random source.
    :param prefix: e.g. ``"CN"``.
    :param length: characters after the prefix.
    """
    return prefix + "".join(rng.choice(_ALPHABET) for _ in range(length))


def random_e164(rng: random.Random) -> str:
    """A plausible US number in E.164 form (``+1`` + area code + 7 digits).

    :param rng: the random source.
    """
    return f"+1{rng.choice(_AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


@dataclass
class PhoneNumber:
    """One workspace phone number."""

    id: str
    number: str
    name: str
    users: list[dict[str, Any]]
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        """The object as ``GET /v1/phone-numbers`` returns it."""
        digits = self.number[2:]
        return {
            "id": self.id,
            "groupId": "PG" + self.id[2:],
            "portRequestId": None,
            "formattedNumber": f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            "forward": None,
            "name": self.name,
            "number": self.number,
            "portingStatus": None,
            "symbol": None,
            "users": [dict(user) for user in self.users],
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "restrictions": {
                "calling": {"CA": "unrestricted", "Intl": "restricted", "US": "unrestricted"},
                "messaging": {"CA": "unrestricted", "Intl": "restricted", "US": "unrestricted"},
            },
        }


@dataclass
class Conversation:
    """One conversation: its API fields plus the write-only state the simulator tracks."""

    id: str
    phone_number_id: str
    participants: list[str]
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime | None = None
    last_activity_id: str | None = None
    assigned_to: str | None = None
    name: str | None = None
    deleted_at: datetime | None = None
    muted_until: datetime | None = None
    snoozed_until: datetime | None = None
    read_at: datetime | None = None
    done: bool = False
    mark_calls: int = 0

    def unread(self, now: datetime) -> bool:
        """Whether Quo would show it unread at ``now``: never marked read, or marked before its last
        activity, or before a snooze that has ended by ``now`` (it comes back to the inbox unread).

        :param now: the instant (the simulator clock, or any other to ask about).
        """
        if self.read_at is None or self.read_at < (self.last_activity_at or self.created_at):
            return True
        return self.snoozed_until is not None and self.read_at < self.snoozed_until <= now

    def to_api(self) -> dict[str, Any]:
        """The conversation object with all 12 documented fields."""
        return {
            "assignedTo": self.assigned_to,
            "createdAt": iso(self.created_at),
            "deletedAt": iso(self.deleted_at),
            "id": self.id,
            "lastActivityAt": iso(self.last_activity_at),
            "lastActivityId": self.last_activity_id,
            "mutedUntil": iso(self.muted_until),
            "name": self.name,
            "participants": list(self.participants),
            "phoneNumberId": self.phone_number_id,
            "snoozedUntil": iso(self.snoozed_until),
            "updatedAt": iso(self.updated_at),
        }


def _pick(rng: random.Random, count: int, fraction: float) -> set[int]:
    return set(rng.sample(range(count), round(count * fraction)))


def _seconds(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=rng.uniform(low, high))


def seed_data(
    seed: int, conversations: int, phone_numbers: int, now: datetime
) -> tuple[list[PhoneNumber], list[str], list[Conversation]]:
    """The deterministic workspace for ``seed``: phone numbers, user ids and conversations.

    ``lastActivityAt`` is spread over the 120 days before ``now`` (3% null); exactly ``round(5%)`` of
    the conversations are deleted, snoozed into the future and muted into the future (chosen
    independently); all start unread and open.

    :param seed: the random seed.
    :param conversations: how many conversations.
    :param phone_numbers: how many workspace numbers (at least 1).
    :param now: the instant the data's ages are relative to.
    """
    if phone_numbers < 1 or conversations < 0:
        raise ValueError("need at least one phone number and a non-negative number of conversations")
    rng = random.Random(seed)
    users = [random_id(rng, "US", 8) for _ in range(4)]
    numbers = [_phone_number(rng, index, users, now) for index in range(phone_numbers)]
    no_activity = _pick(rng, conversations, 0.03)
    deleted, snoozed, muted = (_pick(rng, conversations, 0.05) for _ in range(3))
    seen: set[str] = set()
    result: list[Conversation] = []
    for index in range(conversations):
        conversation_id = random_id(rng, "CN", 30)
        while conversation_id in seen:  # pragma: no cover - 62**30 ids
            conversation_id = random_id(rng, "CN", 30)
        seen.add(conversation_id)
        conversation = _conversation(rng, conversation_id, index in no_activity, numbers, users, now)
        if index in deleted:
            conversation.deleted_at = utc(conversation.updated_at + (now - conversation.updated_at) * rng.random())
            conversation.updated_at = conversation.deleted_at
        if index in snoozed:
            conversation.snoozed_until = utc(now + _seconds(rng, 3600, 14 * 86_400))
        if index in muted:
            conversation.muted_until = utc(now + _seconds(rng, 3600, 30 * 86_400))
        result.append(conversation)
    return numbers, users, result


def _phone_number(rng: random.Random, index: int, users: list[str], now: datetime) -> PhoneNumber:
    name = _LINE_NAMES[index % len(_LINE_NAMES)] + ("" if index < len(_LINE_NAMES) else f" {index + 1}")
    members = [
        {
            "id": user,
            "email": f"{_FIRST_NAMES[i].lower()}@example.com",
            "firstName": _FIRST_NAMES[i],
            "lastName": _LAST_NAMES[i],
            "role": "owner" if i == 0 else "member",
            "groupId": "UG" + user[2:],
        }
        for i, user in enumerate(users)
        if i == 0 or rng.random() < 0.6
    ]
    created = utc(now - ACTIVITY_SPAN - _seconds(rng, 86_400, 400 * 86_400))
    return PhoneNumber(random_id(rng, "PN", 8), random_e164(rng), name, members, created)


def _conversation(
    rng: random.Random,
    conversation_id: str,
    no_activity: bool,
    numbers: list[PhoneNumber],
    users: list[str],
    now: datetime,
) -> Conversation:
    activity = None if no_activity else utc(now - _seconds(rng, 60, ACTIVITY_SPAN.total_seconds()))
    anchor = activity or utc(now - _seconds(rng, 60, ACTIVITY_SPAN.total_seconds()))
    created = utc(anchor - _seconds(rng, 0, 60 * 86_400))
    updated = utc(anchor + _seconds(rng, 0, min(2 * 86_400, (now - anchor).total_seconds())))
    return Conversation(
        id=conversation_id,
        phone_number_id=rng.choice(numbers).id,
        participants=[random_e164(rng) for _ in range(1 if rng.random() < 0.85 else rng.randint(2, 3))],
        created_at=created,
        updated_at=updated,
        last_activity_at=activity,
        last_activity_id=random_id(rng, "AC", 30) if activity else None,
        assigned_to=rng.choice([*users, None, None]),
        name=f"Chat with {rng.choice(_FIRST_NAMES)}" if rng.random() < 0.1 else None,
    )
