"""The simulator's workspace: conversations and phone numbers, listing, paging and the mark-as-* writes."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_quo.testing.bodies import ApiError, field_error
from airflow_provider_quo.testing.data import Conversation, parse_datetime, random_e164, random_id, seed_data, utc
from airflow_provider_quo.testing.listing import parse_list_query

#: The spec's ``^CN(.*)$`` with JavaScript semantics (``.`` matches no line terminator).
CONVERSATION_ID = re.compile("CN[^\n\r\u2028\u2029]*")
MARK_ACTIONS = ("read", "done", "open")


class ConversationStore:
    """Thread-safe in-memory workspace seeded deterministically from ``seed``.

    Its clock starts at ``now`` and advances in real time.

    :param seed: random seed of the data.
    :param conversations: number of seeded conversations.
    :param phone_numbers: number of workspace phone numbers.
    :param now: the instant the data's ages are relative to (default: the real current time).
    """

    def __init__(self, *, seed: int, conversations: int, phone_numbers: int, now: datetime | None) -> None:
        self._epoch = utc(now or datetime.now(timezone.utc))
        self._started = time.monotonic()
        self.seed = seed
        self.phone_numbers, self.user_ids, seeded = seed_data(seed, conversations, phone_numbers, self._epoch)
        self._conversations = {conversation.id: conversation for conversation in seeded}
        self._order: list[Conversation] | None = None
        self._tokens: dict[str, tuple[str, int]] = {}
        self._random = random.Random(f"{seed}/added")
        self._lock = threading.RLock()

    def now(self) -> datetime:
        """The simulator clock: the instant last set plus the real time elapsed since (UTC, ms)."""
        return utc(self._epoch + timedelta(seconds=time.monotonic() - self._started))

    def set_now(self, instant: datetime) -> None:
        """Set the clock to ``instant``; it goes on ticking in real time from there.

        :param instant: the new time (naive values are taken as UTC).
        """
        with self._lock:
            self._epoch, self._started = utc(instant), time.monotonic()

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``.

        :param delta: how far (must not be negative).
        """
        if delta < timedelta(0):
            raise ValueError(f"the clock only moves forward, got {delta!r}")
        with self._lock:
            self._epoch += delta

    # -- API -------------------------------------------------------------------------------------

    def _ordered(self) -> list[Conversation]:
        if self._order is None:
            self._order = sorted(
                self._conversations.values(),
                key=lambda c: (0, -c.last_activity_at.timestamp(), c.id) if c.last_activity_at else (1, 0.0, c.id),
            )
        return self._order

    def _token(self, signature: str, offset: int) -> str:
        token = hashlib.sha256(f"{self.seed}|{signature}|{offset}".encode()).hexdigest()[:32]
        self._tokens[token] = (signature, offset)
        return token

    def list_conversations(self, query: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """``GET /v1/conversations``: most recent ``lastActivityAt`` first (nulls last, then by id).

        :param query: the decoded query pairs.
        :raises ApiError: 400 for a bad parameter or unknown page token, 403 for a foreign number.
        """
        parsed = parse_list_query(query, self.phone_numbers)
        with self._lock:
            offset = 0
            if parsed.page_token is not None:
                signature, offset = self._tokens.get(parsed.page_token, ("", -1))
                if offset < 0 or signature != parsed.signature:
                    error = field_error("pageToken", "Invalid page token", parsed.page_token, {"type": "string"})
                    raise ApiError(400, "Invalid page token", [error])
            matching = [c for c in self._ordered() if parsed.matches(c)]
            page = matching[offset : offset + parsed.max_results]
            end = offset + len(page)
            token = self._token(parsed.signature, end) if end < len(matching) else None
            return {"data": [c.to_api() for c in page], "totalItems": len(matching), "nextPageToken": token}

    def list_phone_numbers(self, query: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """``GET /v1/phone-numbers`` (optional ``userId``: only numbers that user belongs to).

        :param query: the decoded query pairs.
        """
        user_id = dict(query).get("userId")
        numbers = [n for n in self.phone_numbers if user_id is None or any(u["id"] == user_id for u in n.users)]
        return {"data": [n.to_api() for n in numbers]}

    def mark(self, conversation_id: str, action: str) -> dict[str, Any]:
        """``POST /v1/conversations/{id}/mark-as-{action}``: update the state, return the conversation.

        :param conversation_id: the percent-decoded path segment.
        :param action: ``"read"``, ``"done"`` or ``"open"``.
        :raises ApiError: 400 if the id does not match ``^CN(.*)$``; 404 if unknown or deleted.
        """
        if action not in MARK_ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if not CONVERSATION_ID.fullmatch(conversation_id):
            pattern = "^CN(.*)$"
            schema = {"type": "string", "pattern": pattern}
            error = field_error("conversationId", f"Expected string to match '{pattern}'", conversation_id, schema)
            raise ApiError(400, "Invalid path parameter conversationId", [error])
        with self._lock:
            conversation = self._conversations.get(conversation_id)
            if conversation is None or conversation.deleted_at is not None:
                raise ApiError(404, "Conversation not found")
            if action == "read":
                conversation.read_at = self.now()
            else:
                conversation.done = action == "done"
            conversation.updated_at = max(conversation.updated_at, self.now())
            conversation.mark_calls += 1
            return conversation.to_api()

    # -- inspection ------------------------------------------------------------------------------

    def ids(self, **filters: bool) -> list[str]:
        """Conversation ids in listing order, optionally filtered by ``deleted``, ``snoozed``, ``muted``,
        ``read`` or ``done`` (each ``True`` or ``False``).

        :param filters: the flags to match.
        """
        unknown = set(filters) - {"deleted", "snoozed", "muted", "read", "done"}
        if unknown:
            raise TypeError(f"unknown filters {sorted(unknown)}")
        with self._lock:
            now = self.now()
            result = []
            for c in self._ordered():
                flags = {
                    "deleted": c.deleted_at is not None,
                    "snoozed": c.snoozed_until is not None and c.snoozed_until > now,
                    "muted": c.muted_until is not None and c.muted_until > now,
                    "read": not c.unread(now),
                    "done": c.done,
                }
                if all(flags[name] == bool(value) for name, value in filters.items() if value is not None):
                    result.append(c.id)
            return result

    def get(self, conversation_id: str) -> Conversation:
        """The record of ``conversation_id`` (the live object: hold the lock to change it).

        :param conversation_id: the id.
        :raises KeyError: if unknown.
        """
        with self._lock:
            return self._conversations[conversation_id]

    def update(self, conversation_id: str, **fields: Any) -> Conversation:
        """Change fields of one conversation (under the lock; the listing order follows).

        :param conversation_id: the id.
        :param fields: :class:`Conversation` attributes and their new values.
        :raises KeyError: if unknown.
        """
        with self._lock:
            conversation = self._conversations[conversation_id]
            for name, value in fields.items():
                if not hasattr(conversation, name):
                    raise TypeError(f"Conversation has no field {name!r}")
                setattr(conversation, name, value)
            self._order = None
            return conversation

    def snapshot(self) -> list[Conversation]:
        """Copies of every conversation, in listing order (safe to read without the lock)."""
        with self._lock:
            return [dataclasses.replace(c, participants=list(c.participants)) for c in self._ordered()]

    def counts(self) -> dict[str, int]:
        """Totals: conversations, read, done, deleted, and mark calls."""
        with self._lock:
            values = list(self._conversations.values())
            now = self.now()
            return {
                "total": len(values),
                "read": sum(not c.unread(now) for c in values),
                "done": sum(c.done for c in values),
                "deleted": sum(c.deleted_at is not None for c in values),
                "mark_calls": sum(c.mark_calls for c in values),
            }

    def add(
        self,
        conversation_id: str | None = None,
        *,
        last_activity_at: datetime | str | None = None,
        deleted: bool = False,
        snoozed_until: datetime | str | None = None,
        muted_until: datetime | str | None = None,
        phone_number_id: str | None = None,
        assigned_to: str | None = None,
        read: bool = False,
        done: bool = False,
    ) -> Conversation:
        """Add one conversation (see :meth:`QuoSimulator.add_conversation`)."""
        with self._lock:
            if conversation_id is None:
                conversation_id = random_id(self._random, "CN", 30)
            if not CONVERSATION_ID.fullmatch(conversation_id) or conversation_id in self._conversations:
                raise ValueError(f"conversation id {conversation_id!r} is invalid or already exists")
            now = self.now()
            activity = parse_datetime(last_activity_at)
            created = min(activity or now, now) - timedelta(days=1)
            conversation = Conversation(
                id=conversation_id,
                phone_number_id=phone_number_id or self.phone_numbers[0].id,
                participants=[random_e164(self._random)],
                created_at=created,
                updated_at=max(activity or now, now),
                last_activity_at=activity,
                last_activity_id=random_id(self._random, "AC", 30) if activity else None,
                assigned_to=assigned_to,
                deleted_at=now if deleted else None,
                muted_until=parse_datetime(muted_until),
                snoozed_until=parse_datetime(snoozed_until),
                read_at=now if read else None,
                done=done,
            )
            self._conversations[conversation_id] = conversation
            self._order = None
            return conversation
