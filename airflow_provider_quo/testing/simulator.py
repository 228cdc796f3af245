"""``QuoSimulator``: a local HTTP server that behaves like the Quo v1 API, and its Python inspection API."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from types import TracebackType
from typing import Any

from airflow_provider_quo.testing.admin import ActivityRates, AdminRoutes
from airflow_provider_quo.testing.app import SimulatorApp
from airflow_provider_quo.testing.faults import Faults
from airflow_provider_quo.testing.inspection import SimulatorInspection
from airflow_provider_quo.testing.living import LivingWorkspace
from airflow_provider_quo.testing.ratelimit import key_budgets
from airflow_provider_quo.testing.server import SimulatorServer
from airflow_provider_quo.testing.store import ConversationStore


class QuoSimulator(SimulatorInspection, LivingWorkspace):
    """A fake Quo API on ``http://127.0.0.1:PORT`` for tests, demos and benchmarks (standard library only).

    Serves ``GET /v1/conversations``, ``POST /v1/conversations/{id}/mark-as-read|mark-as-done|mark-as-open``
    and ``GET /v1/phone-numbers`` with the documented bodies, plus ``GET /_simulator/stats`` and the admin
    endpoints of :mod:`~airflow_provider_quo.testing.admin` (play days of activity, move the clock). Use it as a
    context manager or call :meth:`start` and :meth:`stop`. Its workspace lives: set or advance its clock,
    deliver messages, snooze conversations or play days of activity (:class:`LivingWorkspace`), and ask
    which conversations are unread or stale at any instant.

    :param api_key: the only accepted ``Authorization`` header value (no ``Bearer``).
    :param conversations: number of seeded conversations.
    :param phone_numbers: number of workspace phone numbers.
    :param seed: seed of the data and of the random fault draws.
    :param now: the instant (UTC) the data's ages are relative to and the clock starts at; default: real now.
    :param rate_limit: requests per second per API key (token bucket, capacity ``max(rate, 1)``), 429 beyond;
        stated on every response in the ``RateLimit-Policy`` and ``RateLimit`` header fields, as Quo does.
    :param latency: seconds added to every API response.
    :param faults: the :class:`Faults` to inject (default: none).
    :param port: the port to listen on (0: a free port).
    :param host: the address to bind (default ``127.0.0.1``).
    :param log_requests: print one line per request to stderr.
    :param rate_limit_window: ``"bucket"`` (the token bucket) or ``"fixed"``: at most ``rate_limit``
        requests in each one-second window, exactly what the header fields state.
    :param other_client: requests per second another client of the key spends of its budget (a CRM
        sync, say), evenly spaced; 0 for none.
    :param activity: what ``POST /_simulator/activity`` plays per simulated day by default.
    """

    def __init__(
        self,
        api_key: str = "test-key",
        conversations: int = 50,
        phone_numbers: int = 3,
        seed: int = 0,
        now: datetime | None = None,
        rate_limit: float | None = None,
        latency: float = 0.0,
        faults: Faults | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        log_requests: bool = False,
        rate_limit_window: str = "bucket",
        other_client: float = 0.0,
        activity: ActivityRates | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.api_key = api_key
        self.host = host
        self._requested_port = port
        self._store = ConversationStore(seed=seed, conversations=conversations, phone_numbers=phone_numbers, now=now)
        self._app = SimulatorApp(
            self._store,
            api_key=api_key,
            faults=faults,
            rate_limit=rate_limit,
            latency=latency,
            seed=seed,
            log_requests=log_requests,
            rate_limit_window=rate_limit_window,
            other_client=other_client,
        )
        self._app.admin = AdminRoutes(self, activity)
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> QuoSimulator:
        """Start serving in a background thread (no-op if running); return ``self``."""
        if self._server is None:
            server = SimulatorServer((self.host, self._requested_port), self._app)
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="quo-simulator", daemon=True
            )
            self._server = server
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection and free the port (no-op if not running)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> QuoSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._server else "stopped"
        return f"QuoSimulator({where}, conversations={len(self._store.ids())})"

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port it listens on (the free port chosen when started with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() or use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for the connection's host."""
        return f"http://{self.host}:{self.port}"

    def connection_json(self, conn_extra: dict[str, Any] | None = None) -> str:
        """The JSON of an Airflow connection to this simulator (for ``AIRFLOW_CONN_QUO_DEFAULT``).

        :param conn_extra: the connection's extra, e.g. ``{"requests_per_second": 1000}``.
        """
        return json.dumps(
            {"conn_type": "quo", "password": self.api_key, "host": self.base_url, "extra": conn_extra or {}}
        )

    # -- behaviour (live settings) ---------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """The live :class:`Faults`; assign a new one to change behaviour while running."""
        return self._app.faults

    @faults.setter
    def faults(self, faults: Faults | None) -> None:
        self._app.faults = faults or Faults()

    @property
    def rate_limit(self) -> float | None:
        """Requests per second per key, or ``None``; assigning refills the buckets."""
        return self._app.buckets.rate

    @rate_limit.setter
    def rate_limit(self, rate: float | None) -> None:
        self._set_budget(rate=rate)

    @property
    def rate_limit_window(self) -> str:
        """``"bucket"`` or ``"fixed"``; assigning starts the budget afresh."""
        return self._app.buckets.kind

    @rate_limit_window.setter
    def rate_limit_window(self, window: str) -> None:
        self._set_budget(window=window)

    @property
    def other_client(self) -> float:
        """Requests per second another client of the key spends; assigning starts the budget afresh."""
        return self._app.buckets.other_rate

    @other_client.setter
    def other_client(self, rate: float) -> None:
        self._set_budget(other_rate=rate)

    def _set_budget(self, **changes: object) -> None:
        budget = self._app.buckets
        settings: dict[str, object] = {"rate": budget.rate, "window": budget.kind, "other_rate": budget.other_rate}
        self._app.buckets = key_budgets(**{**settings, **changes})  # type: ignore[arg-type]

    @property
    def rate_limit_headers(self) -> bool | dict[str, str]:
        """``True``: every response states the key's budget (``RateLimit-Policy``, ``RateLimit``); ``False``:
        no such fields; a dict: exactly these fields instead (e.g. malformed ones). Assignable."""
        return self._app.rate_limit_headers

    @rate_limit_headers.setter
    def rate_limit_headers(self, headers: bool | dict[str, str]) -> None:
        self._app.rate_limit_headers = headers

    @property
    def latency(self) -> float:
        """Seconds added to every API response (assignable)."""
        return self._app.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._app.latency = seconds

    def fail_next(self, n: int, kind: str, path_contains: str | None = None) -> None:
        """Answer the next ``n`` matching API requests with the fault ``kind`` (before auth and rate limit).

        :param n: how many requests.
        :param kind: ``"500"``, ``"502"``, ``"503"``, ``"429"``, ``"drop"``, ``"slow"`` or a hostile kind.
        :param path_contains: only requests whose raw or decoded path contains this, e.g. ``"mark-as-read"``.
        """
        self._app.plan.fail_next(n, kind, path_contains)
