"""Request handling of the simulator, independent of the HTTP plumbing: faults, auth, rate limit, routes, records."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from airflow_provider_quo.testing.admin import AdminRoutes
from airflow_provider_quo.testing.bodies import (
    JUNK_ITEMS,
    ApiError,
    Response,
    error_payload,
    error_response,
    fault_response,
    json_response,
    rate_limited,
)
from airflow_provider_quo.testing.faults import FaultPlan, Faults
from airflow_provider_quo.testing.ratelimit import FixedWindows, TokenBuckets, key_budgets
from airflow_provider_quo.testing.store import MARK_ACTIONS, ConversationStore

STATS_PATH = "/_simulator/stats"
_MARK_SUFFIXES = {f"mark-as-{action}": action for action in MARK_ACTIONS}
#: Faults that alter the normal answer of a listing instead of replacing it (elsewhere they replace it).
_LISTING_KINDS = ("listing_junk_items", "listing_data_object")


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as the simulator saw and answered it.

    :param method: HTTP method.
    :param raw_path: the path exactly as received (percent-encoding kept), without the query string.
    :param path: the percent-decoded path.
    :param query: the decoded query as ``(key, value)`` pairs, in order.
    :param status: the HTTP status answered, or ``None`` if the connection was dropped.
    :param fault: the injected fault kind, ``"rate_limit"`` for a rate-limit 429, else ``None``.
    :param authorized: whether the ``Authorization`` header held the configured key.
    :param raw_query: the query string exactly as received.
    :param endpoint: ``"POST /v1/conversations/{id}/mark-as-read"`` style label, or ``"other"``.
    :param started: ``time.monotonic()`` when the request arrived.
    :param duration: seconds spent handling it (latency and ``slow`` faults included).
    """

    method: str
    raw_path: str
    path: str
    query: list[tuple[str, str]]
    status: int | None
    fault: str | None
    authorized: bool
    raw_query: str = ""
    endpoint: str = "other"
    started: float = 0.0
    duration: float = 0.0


def allowed_method(raw_path: str) -> str | None:
    """The one method Quo documents for a known path (``"GET"`` or ``"POST"``), or ``None`` for an unknown path.

    :param raw_path: the undecoded path.
    """
    segments = raw_path.split("/")
    if raw_path in ("/v1/conversations", "/v1/phone-numbers"):
        return "GET"
    if len(segments) == 5 and segments[1:3] == ["v1", "conversations"] and segments[4] in _MARK_SUFFIXES:
        return "POST"
    return None


def endpoint_label(method: str, raw_path: str) -> str:
    """The endpoint template of a request, for the stats, or ``"other"``.

    :param method: HTTP method.
    :param raw_path: the undecoded path.
    """
    allowed = allowed_method(raw_path)
    if allowed is None or method != allowed:
        return "other"
    if allowed == "GET":
        return f"GET {raw_path}"
    return f"POST /v1/conversations/{{id}}/{raw_path.split('/')[4]}"


class SimulatorApp:
    """Answers requests for a :class:`~airflow_provider_quo.testing.QuoSimulator` (thread-safe).

    :param store: the workspace.
    :param api_key: the only accepted ``Authorization`` value.
    :param faults: the initial fault settings.
    :param rate_limit: requests per second per key, or ``None``.
    :param latency: seconds added to every API response.
    :param seed: seed of the fault draws.
    :param log_requests: print one line per request to stderr.
    :param rate_limit_window: ``"bucket"`` (token bucket) or ``"fixed"`` (one-second windows).
    :param other_client: requests per second another client of the key spends of its budget.
    """

    def __init__(
        self,
        store: ConversationStore,
        *,
        api_key: str,
        faults: Faults | None,
        rate_limit: float | None,
        latency: float,
        seed: int,
        log_requests: bool = False,
        rate_limit_window: str = "bucket",
        other_client: float = 0.0,
    ) -> None:
        self.store = store
        self.api_key = api_key
        self.faults = faults or Faults()
        self.buckets: TokenBuckets | FixedWindows = key_budgets(rate_limit, rate_limit_window, other_client)
        #: The rate-limit header fields on every response: stated from the budget (``True``), none
        #: (``False``), or these exact fields instead (e.g. malformed ones, for tests).
        self.rate_limit_headers: bool | dict[str, str] = True
        self.latency = latency
        self.plan = FaultPlan(seed)
        self.log_requests = log_requests
        self._lock = threading.Lock()
        self._records: list[RecordedRequest] = []
        self._in_flight = 0
        self.max_in_flight = 0
        #: The admin endpoints under ``/_simulator/`` (set by the simulator that owns the workspace).
        self.admin: AdminRoutes | None = None

    # -- records ---------------------------------------------------------------------------------

    def records(self) -> list[RecordedRequest]:
        """A copy of the recorded API requests, oldest first."""
        with self._lock:
            return list(self._records)

    def reset_stats(self) -> None:
        """Forget the recorded requests and the in-flight high-water mark."""
        with self._lock:
            self._records.clear()
            self.max_in_flight = self._in_flight

    def stats(self) -> dict[str, Any]:
        """Request counts by endpoint, status and fault, concurrency, and conversation state counts."""
        records = self.records()

        def status(record: RecordedRequest) -> str:
            return "dropped" if record.status is None else str(record.status)

        by_endpoint: dict[str, Counter[str]] = {}
        for record in records:
            by_endpoint.setdefault(record.endpoint, Counter())[status(record)] += 1
        return {
            "requests": {
                "total": len(records),
                "by_endpoint": {name: dict(counts) for name, counts in sorted(by_endpoint.items())},
                "by_status": dict(Counter(status(r) for r in records)),
                "faults": dict(Counter(r.fault for r in records if r.fault)),
                "unauthorized": sum(not r.authorized for r in records),
            },
            "in_flight": self._in_flight,
            "max_in_flight": self.max_in_flight,
            "conversations": self.store.counts(),
        }

    # -- handling --------------------------------------------------------------------------------

    def handle(self, method: str, target: str, authorization: str | None) -> Response | None:
        """Answer one request; ``None`` means: close the connection without a response.

        :param method: HTTP method.
        :param target: the request target (path and query) as received.
        :param authorization: the ``Authorization`` header, if any.
        """
        raw_path, _, raw_query = target.partition("?")
        if method == "GET" and raw_path == STATS_PATH:
            return json_response(200, self.stats())
        admin_answer = self.admin.answer(method, raw_path, raw_query) if self.admin else None
        if admin_answer is not None:
            return admin_answer
        started = time.monotonic()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        path = unquote(raw_path)
        query = parse_qsl(raw_query, keep_blank_values=True)
        authorized = authorization == self.api_key
        response: Response | None = None
        fault: str | None = None
        stated: dict[str, str] = {}
        try:
            response, fault = self._answer(method, raw_path, path, query, authorized)
            stated = self._stated_headers()  # as counted on arrival; the answer leaves after the latency
            if self.latency > 0:
                time.sleep(self.latency)
        except Exception as error:  # an unexpected bug answers like Quo's "Unknown" error
            response = json_response(500, error_payload(500, f"Simulator error: {type(error).__name__}: {error}"))
        finally:
            record = RecordedRequest(
                method=method,
                raw_path=raw_path,
                path=path,
                query=query,
                status=None if response is None else response.status,
                fault=fault,
                authorized=authorized,
                raw_query=raw_query,
                endpoint=endpoint_label(method, raw_path),
                started=started,
                duration=time.monotonic() - started,
            )
            with self._lock:
                self._in_flight -= 1
                self._records.append(record)
        if self.log_requests:
            print(f"{method} {target} -> {record.status or 'dropped'} {fault or ''}".rstrip(), file=sys.stderr)
        if response is not None:
            response.headers.update(stated or self._stated_headers())
        return response

    def _stated_headers(self) -> dict[str, str]:
        """The key's budget as Quo states it on every response, errors included."""
        if self.rate_limit_headers is True:
            return self.buckets.stated(self.api_key)
        return dict(self.rate_limit_headers or {})

    def _answer(
        self, method: str, raw_path: str, path: str, query: Sequence[tuple[str, str]], authorized: bool
    ) -> tuple[Response | None, str | None]:
        faults = self.faults
        fault = self.plan.choose(faults, raw_path, path)
        if fault == "drop":
            return None, fault
        endpoint = endpoint_label(method, raw_path)
        if fault == "slow":
            time.sleep(faults.slow_seconds)
        elif fault is not None and not _alters_the_answer(fault, endpoint):
            cid = unquote(raw_path.split("/")[3]) if endpoint.startswith("POST") else None
            response = fault_response(
                fault,
                faults.error_body,
                faults.retry_after,
                faults.huge_bytes,
                bomb_bytes=faults.bomb_bytes,
                conversation_id=cid,
            )
            return response, fault
        if endpoint == "other":  # unknown routes are 404 (405 on a known path) whatever the key
            return _no_route(method, raw_path, path), fault
        if not authorized:
            message = "Unauthorized: the Authorization header must hold a valid API key"
            return error_response(401, message), fault
        if not self.buckets.allow(self.api_key):
            return rate_limited(faults.retry_after), "rate_limit"
        if self._forbidden(endpoint, raw_path):
            return error_response(403, "Not Phone Number User"), "forbidden_number"
        try:
            response = self._route(method, raw_path, query)
        except ApiError as error:
            response = error_response(error.status, error.message, errors=error.errors)
        return _altered(response, fault, faults), fault

    def _forbidden(self, endpoint: str, raw_path: str) -> bool:
        """Whether a mark names a conversation on one of ``faults.forbidden_numbers``."""
        if not self.faults.forbidden_numbers or not endpoint.startswith("POST"):
            return False
        try:
            return self.store.get(unquote(raw_path.split("/")[3])).phone_number_id in self.faults.forbidden_numbers
        except KeyError:
            return False

    def _route(self, method: str, raw_path: str, query: Sequence[tuple[str, str]]) -> Response:
        """Answer a known endpoint (``endpoint_label`` is not ``"other"``)."""
        endpoint = endpoint_label(method, raw_path)
        if endpoint == "GET /v1/conversations":
            return json_response(200, self.store.list_conversations(query))
        if endpoint == "GET /v1/phone-numbers":
            return json_response(200, self.store.list_phone_numbers(query))
        segments = raw_path.split("/")
        return json_response(200, self.store.mark(unquote(segments[3]), _MARK_SUFFIXES[segments[4]]))


def _no_route(method: str, raw_path: str, path: str) -> Response:
    """405 with ``Allow`` for a method a known path does not take, else 404; both with the documented body."""
    allowed = allowed_method(raw_path)
    if allowed is None:
        return error_response(404, f"Not Found: no route for {method} {path}")
    return error_response(405, f"{method} is not allowed on {path}: use {allowed}", headers={"Allow": allowed})


def _alters_the_answer(fault: str, endpoint: str) -> bool:
    """Whether ``fault`` alters the normal answer (and its side effects happen) rather than replacing it."""
    return fault == "drip" or (fault in _LISTING_KINDS and endpoint == "GET /v1/conversations")


def _altered(response: Response, fault: str | None, faults: Faults) -> Response:
    """The normal answer, dripped (``drip``) or with a malformed listing page (``listing_*`` kinds)."""
    if fault == "drip":
        response.drip_seconds = faults.drip_seconds
    elif fault in _LISTING_KINDS and response.status == 200:
        page = json.loads(response.body)
        if fault == "listing_junk_items":
            page["data"] = JUNK_ITEMS + page["data"]
        else:
            page["data"] = page["data"][0] if page["data"] else {}
        response.body = json.dumps(page).encode()
    return response
