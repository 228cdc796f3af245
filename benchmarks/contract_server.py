"""A small Quo server written from the contract alone (``shared/quo-api``), not from the simulator.

It states the key's budget as Quo does and enforces it strictly: lowercase ``ratelimit-policy`` and
``ratelimit`` on every answer (``r`` left after this request, ``t`` rounded up to whole seconds, never 0),
fixed windows on this process's monotonic clock (``floor(now / w)``), the request counted on arrival, a
429 with Quo's error body past ``q``, and the latency applied before answering. Another client of the
key can spend part of every window, evenly. Only what the benchmarks send is served: the mark-as-*
endpoints (the updated conversation, with the id sent) and an empty conversation listing.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_MARK = re.compile(r"^/v1/conversations/(CN[^/]*)/mark-as-(read|done|open)$")


class ContractServer(ThreadingHTTPServer):
    """Serves on 127.0.0.1 (a free port) until :meth:`shutdown`.

    :param quota: requests per window (``q``).
    :param window: seconds per window (``w``).
    :param latency: seconds before each answer.
    :param other_client: requests per second another client of the key spends, evenly.
    """

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, *, quota: int, window: float = 1.0, latency: float = 0.0, other_client: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.quota, self.window, self.latency, self.other_client = quota, window, latency, other_client
        self.lock = threading.Lock()
        self.ours: dict[int, int] = {}  # window index -> this client's requests counted
        self.others: dict[int, tuple[int, int]] = {}  # window index -> (the other client's sent, counted)
        self.answers: dict[int, int] = {}  # status -> count
        self.started = time.monotonic()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self) -> tuple[bool, int, int]:
        """Count one request of this client now: ``(allowed, r, t)``."""
        now = time.monotonic()
        index = math.floor(now / self.window)
        with self.lock:
            ours = self.ours.get(index, 0)
            sent, counted = self.others.get(index, (0, 0))
            due = math.floor((now - index * self.window) * self.other_client)  # its requests so far, each
            counted += max(0, min(due - sent, self.quota - ours - counted))  # counted while the window had room
            self.others[index] = (max(sent, due), counted)
            spent = ours + counted
            allowed = spent < self.quota
            if allowed:
                self.ours[index] = ours + 1
                spent += 1
        reset = max(1, math.ceil((index + 1) * self.window - now))
        return allowed, max(0, self.quota - spent), reset

    def start(self) -> ContractServer:
        """Serve in a background thread; return ``self``."""
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self


class _Handler(BaseHTTPRequestHandler):
    server: ContractServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _answer(self, status: int, body: dict[str, Any], r: int, t: int) -> None:
        time.sleep(self.server.latency)
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.send_header("ratelimit-policy", f'"per-second"; q={self.server.quota}; w={self.server.window:g}')
        self.send_header("ratelimit", f'"per-second"; r={r}; t={t}')
        self.end_headers()
        self.wfile.write(raw)
        with self.server.lock:
            self.server.answers[status] = self.server.answers.get(status, 0) + 1

    def _handle(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        allowed, r, t = self.server.count()
        if not allowed:
            body = {"message": "Too many requests", "code": "1000429", "status": 429, "docs": "https://quo.com/docs"}
            return self._answer(429, {**body, "title": "Too Many Requests"}, r, t)
        path = self.path.split("?")[0]
        match = _MARK.match(path)
        if self.command == "POST" and match:
            stamp = "2026-12-01T00:00:00.000Z"
            conversation = {"id": match.group(1), "phoneNumberId": "PN1", "participants": ["+15555550100"]}
            fields = ("assignedTo", "name", "lastActivityId", "deletedAt", "mutedUntil", "snoozedUntil")
            conversation |= dict.fromkeys(fields) | {"createdAt": stamp, "updatedAt": stamp, "lastActivityAt": stamp}
            return self._answer(200, conversation, r, t)
        if self.command == "GET" and path in ("/v1/conversations", "/v1/phone-numbers"):
            return self._answer(200, {"data": [], "totalItems": 0, "nextPageToken": None}, r, t)
        body = {"message": "Not Found", "code": "1000404", "status": 404, "docs": "https://quo.com/docs"}
        return self._answer(404, {**body, "title": "Not Found"}, r, t)

    do_GET = do_POST = _handle
