"""QuoHook: the only code in this provider that speaks HTTP to the Quo API."""

from __future__ import annotations

import math
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import quote

import requests
from airflow.sdk import BaseHook

from airflow_provider_quo.compat import connection_form_behaviour, connection_form_widgets, mask_secret
from airflow_provider_quo.exceptions import QuoAPIError, QuoError
from airflow_provider_quo.hooks import marking
from airflow_provider_quo.hooks.attempt import send_once
from airflow_provider_quo.hooks.bulk import Outcome
from airflow_provider_quo.hooks.listing import MAX_PAGE_SIZE, conversation_list_params
from airflow_provider_quo.hooks.marking import MARK_ACTIONS, MarkAction
from airflow_provider_quo.hooks.request_retries import build_retrying
from airflow_provider_quo.hooks.responses import follow_pages
from airflow_provider_quo.hooks.settings import QuoSettings
from airflow_provider_quo.hooks.throttles import Throttle, build_throttle
from airflow_provider_quo.hooks.transport import build_session

TEST_CONNECTION_TIMEOUT = 10.0

__all__ = ["MARK_ACTIONS", "TEST_CONNECTION_TIMEOUT", "MarkAction", "QuoHook"]


class QuoHook(BaseHook):
    """Talks to the Quo (formerly OpenPhone) public API with one connection's API key.

    The key is read only from the connection's password; the base URL from its host (default
    ``https://api.quo.com``). Requests share one keep-alive session, are spaced by a client-side
    throttle shared by every process on this host that uses the same key (every worker, with the
    ``rate_limit_url`` extra), and are retried on network errors, 429 and 5xx with exponential backoff
    (``Retry-After`` honoured; 429s within a budget of waiting). Errors are raised as the
    typed exceptions of :mod:`airflow_provider_quo.exceptions`. Nothing is fetched in ``__init__``.

    Each attempt has a total deadline of connect timeout + read timeout (default 40 s) for the whole
    response, body included: past it the attempt fails with ``QuoTimeoutError`` and is retried. Bodies
    are capped at :data:`~airflow_provider_quo.hooks.transport.MAX_BODY_BYTES` (4 MiB) after
    decompression. A success must prove itself: a mark's 200 must be the conversation with the id
    sent, a listing body a page; otherwise ``QuoUnexpectedResponseError``.

    :param quo_conn_id: the Airflow connection of type ``quo``.
    :param timeout: read timeout in seconds (default: the connection's ``timeout`` extra, else 30); with
        the connect timeout it also sets each attempt's total deadline.
    :param requests_per_second: cap on this hook's share of the key's budget (the budget is the
        ``requests_per_second`` extra, else 10).
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
        self._timeout = timeout
        self._requests_per_second = requests_per_second
        self._retry_limit = retry_limit
        self.retry_args = retry_args or {}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form behaviour for Airflow 3.1, which reads it from the hook (3.2+ read the
        provider info's ``ui-field-behaviour`` and never call this)."""
        return connection_form_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra connection form fields for Airflow 3.1, built from the provider info's ``conn-fields``
        (3.2+ read those directly and never call this)."""
        return connection_form_widgets()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(quo_conn_id={self.quo_conn_id!r})"

    # -- settings read from the connection -------------------------------------------------------

    @cached_property
    def connection(self) -> Any:
        """The Airflow connection (looked up on first use, never in ``__init__``)."""
        return self.get_connection(self.quo_conn_id)

    @cached_property
    def settings(self) -> QuoSettings:
        """Key, base URL, timeouts, rates and retry limit; the secrets are registered with the secret masker."""
        overrides = {
            "timeout": self._timeout,
            "requests_per_second": self._requests_per_second,
            "retry_limit": self._retry_limit,
        }
        settings = QuoSettings.from_connection(self.connection, self.quo_conn_id, **overrides)
        for secret in settings.secrets:
            mask_secret(secret)
        return settings

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``https://api.quo.com``."""
        return self.settings.base_url

    @property
    def requests_per_second(self) -> float:
        """The most requests per second this hook sends: the key's budget, or this hook's lower cap."""
        return min(self.settings.requests_per_second, self.settings.task_requests_per_second or math.inf)

    # -- transport -------------------------------------------------------------------------------

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session for every request of this hook (thread-safe for concurrent calls)."""
        return build_session(self.settings.api_key, self.base_url)

    @cached_property
    def rate_limiter(self) -> Throttle:
        """The key's throttle (shared on this host, or through ``rate_limit_url``), behind this hook's cap."""
        settings = self.settings
        return build_throttle(
            settings.api_key,
            self.base_url,
            settings.requests_per_second,
            rate_limit_url=settings.rate_limit_url,
            task_rate=settings.task_requests_per_second,
            ceiling=settings.requests_per_second_set,
        )

    def url(self, *segments: str) -> str:
        """The URL of a path under the base URL; each segment is percent-encoded as one segment."""
        return self.base_url + "".join("/" + quote(segment, safe="") for segment in segments)

    def request(
        self,
        method: str,
        *segments: str,
        params: Sequence[tuple[str, str]] | None = None,
        retries: bool = True,
        timeout: tuple[float, float] | None = None,
        stop: threading.Event | None = None,
    ) -> Any:
        """Send one API request (throttled, retried) and return the decoded JSON body.

        :param method: HTTP method.
        :param segments: path segments under the base URL, e.g. ``("v1", "conversations")``.
        :param params: query parameters as pairs (repeat a key for an array).
        :param retries: whether to retry transient failures.
        :param timeout: ``(connect, read)`` timeouts; default from the connection.
        :param stop: a bulk run's stop event: once set, a request still waiting for its throttle slot or
            its next retry is not sent.
        :raises QuoAPIError: (a subclass per status) for an HTTP error response.
        :raises QuoConnectionError: if no response arrived after the retries.
        :raises QuoNotSentError: if ``stop`` was set before the request's turn came.
        """
        url = self.url(*segments)
        timeout = timeout or (self.settings.connect_timeout, self.settings.read_timeout)
        if not retries:
            return send_once(self, method, url, params, timeout, stop)
        retrying = build_retrying(retry_limit=self.settings.retry_limit, overrides=self.retry_args, stop=stop)
        return retrying(send_once, self, method, url, params, timeout, stop)

    # -- endpoints -------------------------------------------------------------------------------

    def iter_conversations(
        self,
        *,
        phone_numbers: Iterable[str] | None = None,
        user_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        updated_after: datetime | str | None = None,
        updated_before: datetime | str | None = None,
        exclude_inactive: bool | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = 100_000,
    ) -> Iterator[dict[str, Any]]:
        """Yield every conversation of ``GET /v1/conversations``, most recent activity first, page by page.

        Follows ``nextPageToken`` until it is null (``totalItems`` is never trusted) and stops with an
        error if the server repeats a token. A body that is not a page (no ``data`` list, a
        ``nextPageToken`` that is not a string) raises :class:`QuoUnexpectedResponseError`; the items
        are yielded as they came, objects or not: the caller decides what to do with malformed ones.

        :param phone_numbers: E.164 numbers or ``PN…`` ids (1-100), sent as repeated keys.
        :param user_id: only conversations accessible to this ``US…`` user.
        :param created_after: datetime (timezone-aware) or ISO 8601 string.
        :param created_before: datetime (timezone-aware) or ISO 8601 string.
        :param updated_after: datetime (timezone-aware) or ISO 8601 string.
        :param updated_before: datetime (timezone-aware) or ISO 8601 string.
        :param exclude_inactive: Quo's ``excludeInactive`` flag.
        :param page_size: ``maxResults``, 1-100.
        :param max_pages: a safety cap on pages read.
        """
        params = conversation_list_params(
            page_size=page_size,
            phone_numbers=phone_numbers,
            user_id=user_id,
            created_after=created_after,
            created_before=created_before,
            updated_after=updated_after,
            updated_before=updated_before,
            exclude_inactive=exclude_inactive,
        )
        for page in follow_pages(
            lambda query: self.request("GET", "v1", "conversations", params=query), params, max_pages
        ):
            yield from page["data"]

    def mark_conversation(
        self, conversation_id: str, action: MarkAction = "read", *, stop: threading.Event | None = None
    ) -> dict[str, Any]:
        """``POST /v1/conversations/{id}/mark-as-{action}``; return the updated conversation.

        :param conversation_id: a ``CN…`` id (validated before anything is sent).
        :param action: ``"read"``, ``"done"`` or ``"open"``.
        :param stop: a bulk run's stop event (see :meth:`request`).
        :raises QuoUnexpectedResponseError: if the 200 is not the conversation with this id (empty body,
            no ``id``, another id): the mark is not proven.
        """
        return marking.mark_conversation(self, conversation_id, action, stop=stop)

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
        """Concurrent calls needed to keep the throttle busy at up to ~2 s of latency per request.

        Sized for the higher of the connection's rate and the throttle's now, so a bulk run asks once its
        first response has stated the key's limit.
        """
        return marking.default_workers(self)

    def mark_conversations(
        self,
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
        :param max_workers: concurrent requests (default :meth:`default_workers`, asked after the first call).
        :param stop_taking: set it to send no further ids; calls under way still finish and are yielded.
        """
        return marking.mark_conversations(
            self, conversation_ids, action, max_workers=max_workers, stop_taking=stop_taking
        )

    def test_connection(self) -> tuple[bool, str]:
        """One read-only ``GET /v1/phone-numbers`` with a short timeout and no retries."""
        try:
            self.request("GET", "v1", "phone-numbers", retries=False, timeout=(5.0, TEST_CONNECTION_TIMEOUT))
        except QuoAPIError as error:
            hints = {401: "check the API key", 403: "the key's user lacks access to this workspace's numbers"}
            hint = hints.get(error.status, error.message or "unexpected response")
            return False, f"{error.status} {error.title}: {hint}"
        except (QuoError, ValueError) as error:
            return False, str(error)
        return True, f"Connected to {self.base_url}"
