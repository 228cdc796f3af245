"""QuoHook's marking endpoints: one conversation, or many at once at the throttle's rate.

Plain functions of the hook; :class:`~airflow_provider_quo.hooks.quo.QuoHook` exposes each as a method.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_quo.conversation_ids import validate_conversation_id
from airflow_provider_quo.exceptions import QuoUnexpectedResponseError
from airflow_provider_quo.hooks.bulk import Outcome, run_concurrently
from airflow_provider_quo.hooks.responses import marked_conversation_problem
from airflow_provider_quo.hooks.transport import POOL_MAXSIZE
from airflow_provider_quo.redaction import scrub

if TYPE_CHECKING:
    from airflow_provider_quo.hooks.quo import QuoHook

MarkAction = Literal["read", "done", "open"]
MARK_ACTIONS: tuple[MarkAction, ...] = ("read", "done", "open")
#: The largest default pool of workers: one kept-alive connection each.
MAX_DEFAULT_WORKERS = POOL_MAXSIZE


def mark_conversation(
    hook: QuoHook, conversation_id: str, action: MarkAction = "read", *, stop: threading.Event | None = None
) -> dict[str, Any]:
    """``POST /v1/conversations/{id}/mark-as-{action}`` through ``hook``; see :meth:`QuoHook.mark_conversation`."""
    if action not in MARK_ACTIONS:
        raise ValueError(f"action must be one of {MARK_ACTIONS}, got {action!r}")
    conversation_id = validate_conversation_id(conversation_id)
    path = ("v1", "conversations", conversation_id, f"mark-as-{action}")
    result: dict[str, Any] = hook.request("POST", *path, stop=stop)
    problem = marked_conversation_problem(result, conversation_id)
    if problem:  # a 200 must prove the mark: Quo returns the updated conversation
        message = scrub(f"mark-as-{action} answered 200 {problem}", hook.settings.api_key)
        raise QuoUnexpectedResponseError(status=200, title="Unexpected response", message=message)
    return result


def default_workers(hook: QuoHook) -> int:
    """Concurrent calls needed to keep ``hook``'s throttle busy at up to ~2 s of latency per request.

    Sized for the higher of the connection's rate and the throttle's now: once a response has stated a
    raised limit (and the connection sets no ``requests_per_second``), the pool grows with it.
    """
    rate = max(hook.requests_per_second, hook.rate_limiter.rate)
    return max(4, min(MAX_DEFAULT_WORKERS, math.ceil(rate * 2)))


def mark_conversations(
    hook: QuoHook,
    conversation_ids: Iterable[str],
    action: MarkAction = "read",
    *,
    max_workers: int | None = None,
    stop_taking: threading.Event | None = None,
) -> Generator[Outcome[str, dict[str, Any]], None, None]:
    """Mark many conversations concurrently through ``hook``; see :meth:`QuoHook.mark_conversations`."""
    # Without max_workers the pool is sized after the first call, whose response states the key's budget.
    workers = max_workers or hook.default_workers
    # Read the connection and build the session and throttle here, in the caller's thread: a missing
    # key or bad extra raises once instead of failing every id, and worker threads share one session.
    _ = hook.session, hook.rate_limiter
    stop = stop_taking if stop_taking is not None else threading.Event()
    mark = lambda cid: hook.mark_conversation(cid, action, stop=stop)  # noqa: E731
    return run_concurrently(mark, conversation_ids, workers=workers, stop_taking=stop)
