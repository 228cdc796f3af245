"""The Python inspection API of :class:`~airflow_provider_quo.testing.QuoSimulator`: state, records, data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_provider_quo.testing.app import RecordedRequest, SimulatorApp
from airflow_provider_quo.testing.store import ConversationStore


class SimulatorInspection:
    """Read and arrange the simulator's state from Python (no HTTP, no recording). Thread-safe."""

    _store: ConversationStore
    _app: SimulatorApp

    @property
    def phone_numbers(self) -> list[dict[str, Any]]:
        """The workspace's phone numbers as the API returns them."""
        return [number.to_api() for number in self._store.phone_numbers]

    @property
    def user_ids(self) -> list[str]:
        """The seeded ``US…`` user ids (``assignedTo`` values)."""
        return list(self._store.user_ids)

    def conversation_ids(self, **filters: bool) -> list[str]:
        """Ids in listing order, optionally filtered by ``deleted=``, ``snoozed=``, ``muted=``, ``read=``, ``done=``.

        :param filters: flags to match, e.g. ``deleted=False, read=False``.
        """
        return self._store.ids(**filters)

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        """The conversation as the API returns it.

        :param conversation_id: the id.
        :raises KeyError: if unknown.
        """
        return self._store.get(conversation_id).to_api()

    def state(self, conversation_id: str) -> dict[str, Any]:
        """``{"read": bool, "done": bool, "mark_calls": int}``: read now, done, and the successful mark-as-* calls
        of any kind.

        :param conversation_id: the id.
        :raises KeyError: if unknown.
        """
        record = self._store.get(conversation_id)
        return {"read": not record.unread(self._store.now()), "done": record.done, "mark_calls": record.mark_calls}

    def read_ids(self) -> set[str]:
        """Ids of the conversations read now (marked read since their last activity and ended snooze)."""
        return set(self._store.ids(read=True))

    def done_ids(self) -> set[str]:
        """Ids of the conversations marked done (and not reopened)."""
        return set(self._store.ids(done=True))

    def add_conversation(
        self,
        id: str | None = None,
        *,
        last_activity_at: datetime | str | None = None,
        deleted: bool = False,
        snoozed_until: datetime | str | None = None,
        muted_until: datetime | str | None = None,
        phone_number_id: str | None = None,
        assigned_to: str | None = None,
        read: bool = False,
        done: bool = False,
    ) -> dict[str, Any]:
        """Add a conversation and return it as the API would.

        :param id: its ``CN…`` id (default: a random one).
        :param last_activity_at: ``lastActivityAt`` (aware datetime or ISO string); ``None`` = null.
        :param deleted: set ``deletedAt`` to the clock (it is then listed, but mark-as-* answers 404).
        :param snoozed_until: ``snoozedUntil``.
        :param muted_until: ``mutedUntil``.
        :param phone_number_id: its ``PN…`` number (default: the first workspace number).
        :param assigned_to: ``assignedTo``.
        :param read: initial read state.
        :param done: initial done state.
        :raises ValueError: if the id is invalid or taken.
        """
        record = self._store.add(
            id,
            last_activity_at=last_activity_at,
            deleted=deleted,
            snoozed_until=snoozed_until,
            muted_until=muted_until,
            phone_number_id=phone_number_id,
            assigned_to=assigned_to,
            read=read,
            done=done,
        )
        return record.to_api()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the recorded API requests (inspection requests excluded), oldest first."""
        return self._app.records()

    def request_count(
        self, method: str | None = None, path_prefix: str | None = None, status: int | None = None
    ) -> int:
        """How many recorded API requests match every given criterion.

        :param method: e.g. ``"POST"``.
        :param path_prefix: prefix of the decoded (or raw) path, e.g. ``"/v1/conversations/"``.
        :param status: HTTP status answered (dropped requests have none).
        """
        return sum(
            (method is None or r.method == method.upper())
            and (path_prefix is None or r.path.startswith(path_prefix) or r.raw_path.startswith(path_prefix))
            and (status is None or r.status == status)
            for r in self._app.records()
        )

    @property
    def max_in_flight(self) -> int:
        """The highest number of API requests handled at the same time since the last :meth:`reset_stats`."""
        return self._app.max_in_flight

    def stats(self) -> dict[str, Any]:
        """What ``GET /_simulator/stats`` returns."""
        return self._app.stats()

    def reset_stats(self) -> None:
        """Forget recorded requests and ``max_in_flight`` (conversation state is kept)."""
        self._app.reset_stats()
