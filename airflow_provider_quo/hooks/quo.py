"""QuoHook: the only code in this provider that speaks HTTP to the Quo API; and the bounded pool of threads
that marks many conversations at once (:func:`run_concurrently`)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import requests
from airflow.sdk import BaseHook

from airflow_provider_quo.compat import connection_form_behaviour, connection_form_widgets, mask_secret
from airflow_provider_quo.conversation_ids import validate_conversation_id
from airflow_provider_quo.exceptions import QuoAPIError, QuoError
from airflow_provider_quo.hooks import api
from airflow_provider_quo.hooks.api import MARK_ACTIONS, MAX_PAGE_SIZE, ConversationFilters, MarkAction
from airflow_provider_quo.hooks.budget import KeyBudget
from airflow_provider_quo.hooks.http import POOL_MAXSIZE, build_session, send_once
from airflow_provider_quo.hooks.retries import build_retrying
from airflow_provider_quo.hooks.settings import QuoSettings
from airflow_provider_quo.hooks.stores import key_store

if TYPE_CHECKING:
    from typing_extensions import Unpack

TEST_CONNECTION_TIMEOUT = 10.0

__all__ = ["MARK_ACTIONS", "TEST_CONNECTION_TIMEOUT", "MarkAction", "Outcome", "QuoHook", "run_concurrently"]


class QuoHook(BaseHook):
    """Talks to the Quo public API with one connection's API key; nothing is fetched in ``__init__``.

    Requests share one keep-alive session, are paced by the key's budget, shared by every user of the key
    (:mod:`~airflow_provider_quo.hooks.budget`), are retried (:mod:`~airflow_provider_quo.hooks.retries`),
    read within bounds (:mod:`~airflow_provider_quo.hooks.http`) and fail with typed exceptions.

    :param quo_conn_id: the Airflow connection of type ``quo``.
    :param timeout: read timeout in seconds (default: the connection's ``timeout`` extra, else 30).
    :param requests_per_second: this hook's own cap, in front of the key's budget.
    :param retry_limit: attempts per request, the first included (default: ``retry_limit`` extra, else 6).
    :param retry_args: keyword arguments for :class:`tenacity.Retrying` that replace the defaults.
    """

    conn_name_attr = "quo_conn_id"
    default_conn_name = "quo_default"
    conn_type = "quo"
    hook_name = "Quo"

    def __init__(
        self,
        *,
        quo_conn_id: str = default_conn_name,
        timeout: float | None = None,
        requests_per_second: float | None = None,
        retry_limit: int | None = None,
        retry_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.quo_conn_id = quo_conn_id
        self._overrides = {"timeout": timeout, "requests_per_second": requests_per_second, "retry_limit": retry_limit}
        self.retry_args = retry_args or {}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form behaviour for Airflow 3.1 (3.2+ read the provider info's instead)."""
        return connection_form_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra connection form fields for Airflow 3.1 (3.2+ read the provider info's ``conn-fields``)."""
        return connection_form_widgets()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(quo_conn_id={self.quo_conn_id!r})"

    @cached_property
    def settings(self) -> QuoSettings:
        """The connection's settings, read on first use; their secrets go to Airflow's secret masker."""
        connection = self.get_connection(self.quo_conn_id)
        settings = QuoSettings.from_connection(connection, self.quo_conn_id, **self._overrides)
        for secret in settings.secrets:
            mask_secret(secret)
        return settings

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api.quo.com``."""
        return self.settings.base_url

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session for every request of this hook (thread-safe for concurrent calls)."""
        return build_session(self.settings.api_key, self.base_url)

    @cached_property
    def budget(self) -> KeyBudget:
        """The key's budget: shared with every user of the key, behind this hook's own cap."""
        settings = self.settings
        return KeyBudget(
            key_store(settings.api_key, self.base_url, settings.rate_limit_url),
            configured=settings.requests_per_second,
            ceiling=settings.requests_per_second_set,
            cap=settings.task_requests_per_second,
        )

    def request(
        self,
        method: str,
        *segments: str,
        params: list[tuple[str, str]] | None = None,
        retries: bool = True,
        timeout: tuple[float, float] | None = None,
        stop: threading.Event | None = None,
    ) -> Any:
        """Send one API request (paced, retried) and return the decoded JSON body.

        :param method: HTTP method.
        :param segments: path segments under the base URL, each percent-encoded as one segment.
        :param params: query parameters as pairs (repeat a key for an array).
        :param retries: whether to retry transient failures.
        :param timeout: ``(connect, read)`` timeouts; default from the connection.
        :param stop: a bulk run's stop event: once set, a request still waiting for its slot or its next
            retry is not sent.
        :raises QuoAPIError: (a subclass per status) for an HTTP error response.
        :raises QuoConnectionError: if no response arrived after the retries.
        :raises QuoNotSentError: if ``stop`` was set before the request's turn came.
        """
        url = self.base_url + "".join("/" + quote(segment, safe="") for segment in segments)
        timeout = timeout or (self.settings.connect_timeout, self.settings.read_timeout)
        key = self.settings.api_key
        attempt = (self.session, self.budget, (method, url, params))
        if not retries:
            return send_once(*attempt, timeout=timeout, api_key=key, stop=stop)
        retrying = build_retrying(retry_limit=self.settings.retry_limit, overrides=self.retry_args, stop=stop)
        return retrying(send_once, *attempt, timeout=timeout, api_key=key, stop=stop)

    def iter_conversations(
        self, *, page_size: int = MAX_PAGE_SIZE, max_pages: int = 100_000, **filters: Unpack[ConversationFilters]
    ) -> Iterator[Any]:
        """Yield every conversation of ``GET /v1/conversations``, most recent activity first, page by page.

        A body that is not a page raises :class:`~airflow_provider_quo.exceptions.QuoUnexpectedResponseError`;
        items are yielded as they came, objects or not: the caller decides about malformed ones.

        :param page_size: ``maxResults``, 1-100.
        :param max_pages: a safety cap on pages read.
        :param filters: any of :class:`~airflow_provider_quo.hooks.api.ConversationFilters`, e.g.
            ``phone_numbers=["+15555550100"]``, ``updated_after=datetime(...)``.
        """
        params = api.conversation_list_params(page_size=page_size, **filters)
        yield from api.follow_pages(
            lambda query: self.request("GET", *api.CONVERSATIONS, params=query), params, max_pages
        )

    def mark_conversation(
        self, conversation_id: str, action: MarkAction = "read", *, stop: threading.Event | None = None
    ) -> dict[str, Any]:
        """``POST /v1/conversations/{id}/mark-as-{action}``; return the updated conversation.

        :param conversation_id: a ``CN…`` id (validated before anything is sent).
        :param action: ``"read"``, ``"done"`` or ``"open"``.
        :param stop: a bulk run's stop event (see :meth:`request`).
        :raises QuoUnexpectedResponseError: if the 200 is not the conversation with this id.
        """
        valid_id = validate_conversation_id(conversation_id)
        if action not in MARK_ACTIONS:
            raise ValueError(f"action must be one of {MARK_ACTIONS}, got {action!r}")
        body = self.request("POST", *api.CONVERSATIONS, valid_id, f"mark-as-{action}", stop=stop)
        return api.check_marked(body, conversation_id, action, redact=self.settings.api_key)

    def mark_conversation_as_read(self, conversation_id: str) -> dict[str, Any]:
        """Clear a conversation's unread indicator; return the updated conversation.

        :param conversation_id: a ``CN…`` id.
        """
        return self.mark_conversation(conversation_id, "read")

    def mark_conversation_as_done(self, conversation_id: str) -> dict[str, Any]:
        """Remove a conversation from the inbox without sending a message; return it.

        :param conversation_id: a ``CN…`` id.
        """
        return self.mark_conversation(conversation_id, "done")

    def mark_conversation_as_open(self, conversation_id: str) -> dict[str, Any]:
        """Move a conversation back to the inbox; return it.

        :param conversation_id: a ``CN…`` id.
        """
        return self.mark_conversation(conversation_id, "open")

    def default_workers(self) -> int:
        """Concurrent calls that keep the budget busy at up to ~2 s of latency per request (4 to 64):
        asked once the first call is done, when the server has stated the key's limit."""
        return max(4, min(POOL_MAXSIZE, math.ceil(self.budget.rate * 2)))

    def mark_conversations(
        self,
        conversation_ids: Iterable[str],
        action: MarkAction = "read",
        *,
        max_workers: int | None = None,
        stop_taking: threading.Event | None = None,
    ) -> Generator[Outcome[str, dict[str, Any]], None, None]:
        """Mark many conversations concurrently at the budget's pace, yielding each outcome as it lands.

        One id's failure never stops the others: its exception is in ``Outcome.error`` (an id still waiting
        for its slot when ``stop_taking`` is set: :class:`~airflow_provider_quo.exceptions.QuoNotSentError`).

        :param conversation_ids: valid ``CN…`` ids (see ``parse_conversation_ids``).
        :param action: ``"read"``, ``"done"`` or ``"open"``.
        :param max_workers: concurrent requests (default :meth:`default_workers`).
        :param stop_taking: set it to send no further ids; calls under way still finish and are yielded.
        """
        _ = self.session, self.budget  # a missing key or bad extra fails once, here, not once per id
        stop = stop_taking if stop_taking is not None else threading.Event()
        mark = partial(self.mark_conversation, action=action, stop=stop)
        return run_concurrently(mark, conversation_ids, workers=max_workers or self.default_workers, stop_taking=stop)

    def test_connection(self) -> tuple[bool, str]:
        """One read-only ``GET /v1/phone-numbers`` with a short timeout and no retries."""
        try:
            self.request("GET", *api.PHONE_NUMBERS, retries=False, timeout=(5.0, TEST_CONNECTION_TIMEOUT))
        except QuoAPIError as error:
            hints = {401: "check the API key", 403: "the key's user lacks access to this workspace's numbers"}
            hint = hints.get(error.status, error.message or "unexpected response")
            return False, f"{error.status} {error.title}: {hint}"
        except (QuoError, ValueError) as error:
            return False, str(error)
        return True, f"Connected to {self.base_url}"


Item = TypeVar("Item")
Result = TypeVar("Result")

_NO_ITEM: Any = object()


@dataclass(frozen=True)
class Outcome(Generic[Item, Result]):
    """What one call gave: ``result`` on success, else the ``error`` it raised."""

    item: Item
    result: Result | None = None
    error: BaseException | None = None


def _call(call: Callable[[Item], Result], item: Item) -> Outcome[Item, Result]:
    try:
        return Outcome(item, result=call(item))
    except Exception as error:
        return Outcome(item, error=error)


def run_concurrently(
    call: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    workers: int | Callable[[], int],
    stop_taking: threading.Event | None = None,
) -> Generator[Outcome[Item, Result], None, None]:
    """Yield an :class:`Outcome` for each item, in completion order, calling ``call`` on ``workers`` threads.

    The first item is called alone, before any thread starts: if its outcome makes the consumer stop
    (a rejected API key, say), nothing else was sent. Closing the generator early (``break``, an exception
    in the consumer) sets ``stop_taking``, waits for the calls under way and drops their outcomes.

    :param call: the function to call once per item; its exceptions become ``Outcome.error``.
    :param items: the items, consumed lazily.
    :param workers: how many calls may run at once (at least 1), or a function that says so once the
        first call is done (what it answered may change the answer: a budget the server stated).
    :param stop_taking: an event the consumer sets to take no further items; the calls under way still
        finish and are yielded, so every item sent is accounted for.
    """
    if not callable(workers):
        _check_workers(workers)
    source = iter(items)
    stop = stop_taking or threading.Event()
    first = _NO_ITEM if stop.is_set() else next(source, _NO_ITEM)
    if first is _NO_ITEM:
        return
    yield _call(call, first)
    second = _NO_ITEM if stop.is_set() else next(source, _NO_ITEM)
    if second is _NO_ITEM:  # no pool for a single item
        return
    size = _check_workers(workers() if callable(workers) else workers)
    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="quo-bulk")
    pending: set[Future[Outcome[Item, Result]]] = {pool.submit(_call, call, second)}
    try:
        while True:
            while len(pending) < size and not stop.is_set():
                item = next(source, _NO_ITEM)
                if item is _NO_ITEM:
                    break
                pending.add(pool.submit(_call, call, item))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)
    finally:
        stop.set()  # closed early: calls waiting for their slot or retry end at once; those on the wire finish
        pool.shutdown(wait=True, cancel_futures=True)


def _check_workers(workers: int) -> int:
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    return workers
