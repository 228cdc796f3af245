"""A living workspace: the simulator's clock, new messages, snoozes, and which conversations are unread or stale."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_quo.testing.data import parse_datetime, random_id, utc
from airflow_provider_quo.testing.store import ConversationStore


class LivingWorkspace:
    """Move the simulated workspace through time from Python, as its users would (no HTTP, not recorded).

    A new message makes a conversation unread again, as in Quo; so does the end of a snooze. Read
    state is decided at the instant asked about, so advancing the clock past a snooze's end is
    enough for it to come back unread.
    """

    _store: ConversationStore

    # -- the clock -------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulator clock (UTC): where it was started or last set, plus the real time elapsed since."""
        return self._store.now()

    def set_now(self, instant: datetime | str) -> None:
        """Set the simulator clock; it goes on ticking in real time from there.

        :param instant: an aware datetime or an ISO 8601 string with ``Z`` or an offset.
        """
        parsed = parse_datetime(instant)
        if parsed is None:
            raise ValueError("set_now needs an instant")
        self._store.set_now(parsed)

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the simulator clock forward; return the new time.

        :param delta: a timedelta, or seconds.
        """
        self._store.advance(delta if isinstance(delta, timedelta) else timedelta(seconds=delta))
        return self._store.now()

    # -- what users do ---------------------------------------------------------------------------

    def receive_message(self, conversation_id: str, at: datetime | str | None = None) -> dict[str, Any]:
        """A new inbound message: ``lastActivityAt`` and ``updatedAt`` move to ``at``, the conversation is
        unread again and back in the inbox (no longer done). Return it as the API would.

        :param conversation_id: the id.
        :param at: when the message arrived (default: the clock).
        :raises KeyError: if the id is unknown.
        """
        when = parse_datetime(at) or self._store.now()
        current = self._store.get(conversation_id)
        record = self._store.update(
            conversation_id,
            last_activity_at=when,
            last_activity_id=random_id(self._activity_random(), "AC", 30),
            updated_at=max(current.updated_at, when),
            done=False,
        )
        return record.to_api()

    def snooze(
        self, conversation_id: str, until: datetime | str | None, at: datetime | str | None = None
    ) -> dict[str, Any]:
        """Snooze a conversation until ``until`` (``None`` clears the snooze); ``updatedAt`` moves to ``at``.

        :param conversation_id: the id.
        :param until: when the snooze ends; the conversation then comes back unread.
        :param at: when it was snoozed (default: the clock).
        :raises KeyError: if the id is unknown.
        """
        when = parse_datetime(at) or self._store.now()
        current = self._store.get(conversation_id)
        record = self._store.update(
            conversation_id, snoozed_until=parse_datetime(until), updated_at=max(current.updated_at, when)
        )
        return record.to_api()

    def read_in_app(self, conversation_ids: Iterable[str], at: datetime | str | None = None) -> int:
        """Someone reads these conversations in the Quo app (as ``mark-as-read`` would, without a request).

        :param conversation_ids: the ids.
        :param at: when (default: the clock).
        :returns: how many were read.
        :raises KeyError: if an id is unknown.
        """
        when = parse_datetime(at) or self._store.now()
        count = 0
        for conversation_id in conversation_ids:
            self._store.update(conversation_id, read_at=when)
            count += 1
        return count

    def simulate_activity(
        self,
        period: timedelta = timedelta(days=1),
        *,
        active_fraction: float = 0.02,
        new_conversations: int = 0,
        snooze_fraction: float = 0.0,
        max_snooze: timedelta = timedelta(days=3),
        advance: bool = True,
    ) -> dict[str, Any]:
        """Play ``period`` of a workspace's life, then advance the clock by it (or let it get there).

        Events fall at random instants of the period (drawn from the simulator's seed): a message on
        ``active_fraction`` of the live conversations, ``new_conversations`` new ones (each with a
        first message), and snoozes of up to ``max_snooze`` on ``snooze_fraction`` of them.

        :param period: how much time passes.
        :param active_fraction: share (0-1) of live conversations that receive a message.
        :param new_conversations: how many conversations start.
        :param snooze_fraction: share (0-1) of live conversations that someone snoozes.
        :param max_snooze: the longest snooze.
        :param advance: move the clock to the period's end; ``False``: leave it ticking, so the events fall
            in the next ``period`` of real time (with the clock on the wall clock, runs started as they
            happen see them, as in a live workspace).
        :returns: what happened: ``messages``, ``new_conversations``, ``snoozes``, ``from`` and ``to``.
        """
        for name, fraction in (("active_fraction", active_fraction), ("snooze_fraction", snooze_fraction)):
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {fraction!r}")
        rng = self._activity_random()
        start = self._store.now()
        live = [c.id for c in self._store.snapshot() if c.deleted_at is None]

        def instant() -> datetime:
            return utc(start + period * rng.random())

        messaged = rng.sample(live, round(len(live) * active_fraction))
        for conversation_id in messaged:
            self.receive_message(conversation_id, at=instant())
        for _ in range(new_conversations):
            first_message = instant()
            self._store.add(last_activity_at=first_message)
        snoozed = rng.sample(live, round(len(live) * snooze_fraction))
        for conversation_id in snoozed:
            when = instant()
            self.snooze(conversation_id, until=utc(when + max_snooze * rng.random()), at=when)
        if advance:
            self._store.advance(period)
        return {
            "messages": len(messaged),
            "new_conversations": new_conversations,
            "snoozes": len(snoozed),
            "from": start.isoformat(),
            "to": utc(start + period).isoformat(),
        }

    # -- what is unread --------------------------------------------------------------------------

    def unread_ids(self, at: datetime | str | None = None) -> set[str]:
        """Ids of the live (not deleted) conversations unread at ``at``.

        :param at: the instant (default: the clock).
        """
        when = parse_datetime(at) or self._store.now()
        return {c.id for c in self._store.snapshot() if c.deleted_at is None and c.unread(when)}

    def stale_unread_ids(self, older_than: timedelta | float, at: datetime | str | None = None) -> set[str]:
        """Ids of the live conversations unread at ``at``, idle for longer than ``older_than`` and not snoozed
        then: what a stale-unread cleanup at ``at`` must mark (muted ones included, as by default).

        :param older_than: the idle age: a timedelta or days.
        :param at: the instant (default: the clock).
        """
        when = parse_datetime(at) or self._store.now()
        cutoff = when - (older_than if isinstance(older_than, timedelta) else timedelta(days=older_than))
        return {
            c.id
            for c in self._store.snapshot()
            if c.deleted_at is None
            and c.unread(when)
            and not (c.snoozed_until is not None and c.snoozed_until > when)
            and (c.last_activity_at or c.created_at) < cutoff
        }

    def _activity_random(self) -> random.Random:
        rng: random.Random | None = getattr(self, "_living_random", None)
        if rng is None:
            rng = self._living_random = random.Random(f"{self._store.seed}/activity")
        return rng
