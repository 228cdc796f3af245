"""QuoHook's marking endpoints: one conversation, or many at once at the throttle's rate."""

from __future__ import annotations

import math
import threading
from collections.abc import Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from airflow_provider_quo.conversation_ids import validate_conversation_id
from airflow_provider_quo.exceptions import QuoUnexpectedResponseError
from airflow_provider_quo.hooks.bulk import Outcome, run_concurrently
from airflow_provider_quo.hooks.responses import marked_conversation_problem
from airflow_provider_quo.redaction import scrub

if TYPE_CHECKING:
    import requests

    from airflow_provider_quo.hooks.settings import QuoSettings
    from airflow_provider_quo.hooks.throttles import Throttle

MarkAction = Literal["read", "done", "open"]
MARK_ACTIONS: tuple[MarkAction, ...] = ("read", "done", "open")


class _Hook(Protocol):
    """What the marking endpoints use of :class:`~airflow_provider_quo.hooks.quo.QuoHook`."""

    @property
    def settings(self) -> QuoSettings: ...

    @property
    def session(self) -> requests.Session: ...

    @property
    def rate_limiter(self) -> Throttle: ...

    @property
    def requests_per_second(self) -> float: ...

    def request(
        self,
        method: str,
        *segments: str,
        params: Sequence[tuple[str, str]] | None = None,
        retries: bool = True,
        timeout: tuple[float, float] | None = None,
        stop: threading.Event | None = None,
    ) -> Any: ...

    def mark_conversation(
        self, conversation_id: str, action: MarkAction = "read", *, stop: threading.Event | None = None
    ) -> dict[str, Any]: ...

    def default_workers(self) -> int: ...


class MarkingMixin:
    """The ``mark-as-{read,done,open}`` endpoints of :class:`~airflow_provider_quo.hooks.quo.QuoHook`."""

    def mark_conversation(
        self: _Hook, conversation_id: str, action: MarkAction = "read", *, stop: threading.Event | None = None
    ) -> dict[str, Any]:
        """``POST /v1/conversations/{id}/mark-as-{action}``; return the updated conversation.

        :param conversation_id: a ``CN…`` id (validated before anything is sent).
        :param action: ``"read"``, ``"done"`` or ``"open"``.
        :param stop: a bulk run's stop event (see :meth:`request`).
        :raises QuoUnexpectedResponseError: if the 200 is not the conversation with this id (empty body,
            no ``id``, another id): the mark is not proven.
        """
        if action not in MARK_ACTIONS:
            raise ValueError(f"action must be one of {MARK_ACTIONS}, got {action!r}")
        conversation_id = validate_conversation_id(conversation_id)
        path = ("v1", "conversations", conversation_id, f"mark-as-{action}")
        result: dict[str, Any] = self.request("POST", *path, stop=stop)
        problem = marked_conversation_problem(result, conversation_id)
        if problem:  # a 200 must prove the mark: Quo returns the updated conversation
            message = scrub(f"mark-as-{action} answered 200 {problem}", self.settings.api_key)
            raise QuoUnexpectedResponseError(status=200, title="Unexpected response", message=message)
        return result

    def mark_conversation_as_read(self: _Hook, conversation_id: str) -> dict[str, Any]:
        """Clear a conversation's unread indicator; return the updated conversation.

        :param conversation_id: a ``CN…`` id.
        """
        return self.mark_conversation(conversation_id, "read")

    def mark_conversation_as_done(self: _Hook, conversation_id: str) -> dict[str, Any]:
        """Remove a conversation from the inbox without sending a message; return it.

        :param conversation_id: a ``CN…`` id.
        """
        return self.mark_conversation(conversation_id, "done")

    def mark_conversation_as_open(self: _Hook, conversation_id: str) -> dict[str, Any]:
        """Move a conversation back to the inbox; return it.

        :param conversation_id: a ``CN…`` id.
        """
        return self.mark_conversation(conversation_id, "open")

    def default_workers(self: _Hook) -> int:
        """Concurrent calls needed to keep the throttle busy at up to ~2 s of latency per request."""
        return max(4, min(64, math.ceil(self.requests_per_second * 2)))

    def mark_conversations(
        self: _Hook,
        conversation_ids: Iterable[str],
        action: MarkAction = "read",
        *,
        max_workers: int | None = None,
        stop_taking: threading.Event | None = None,
    ) -> Generator[Outcome[str, dict[str, Any]], None, None]:
        """Mark many conversations concurrently at the throttle's rate, yielding each outcome as it lands.

        One id's failure never stops the others: its exception is in ``Outcome.error``. Set
        ``stop_taking`` to stop early while still receiving the outcomes of the calls already sent
        (as the operator does on a 401, or when its first 20 outcomes are all 403s); an id taken but
        still waiting for its throttle slot is then not sent, and its outcome is a
        :class:`~airflow_provider_quo.exceptions.QuoNotSentError`.

        :param conversation_ids: valid ``CN…`` ids (see ``parse_conversation_ids``).
        :param action: ``"read"``, ``"done"`` or ``"open"``.
        :param max_workers: concurrent requests (default :meth:`default_workers`).
        :param stop_taking: set it to send no further ids; calls under way still finish and are yielded.
        """
        workers = max_workers or self.default_workers()
        # Read the connection and build the session and throttle here, in the caller's thread: a missing
        # key or bad extra raises once instead of failing every id, and worker threads share one session.
        _ = self.session, self.rate_limiter
        stop = stop_taking if stop_taking is not None else threading.Event()
        mark = lambda cid: self.mark_conversation(cid, action, stop=stop)  # noqa: E731
        return run_concurrently(mark, conversation_ids, workers=workers, stop_taking=stop)
