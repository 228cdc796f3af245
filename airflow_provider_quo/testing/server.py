"""HTTP plumbing: a threading HTTP/1.1 server (keep-alive) that hands each request to a :class:`SimulatorApp`."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_provider_quo.testing.app import SimulatorApp
from airflow_provider_quo.testing.bodies import ERROR_CODES, Response, error_payload, json_response


class SimulatorServer(ThreadingHTTPServer):
    """A threading HTTP server bound to ``(host, port)`` that tracks its open connections.

    :param address: ``(host, port)``; port 0 picks a free port.
    :param app: the request handling.
    """

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: SimulatorApp) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        """Remember (or forget) an open client connection.

        :param connection: the socket.
        :param open_: ``True`` when it opens, ``False`` when it closes.
        """
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client resets its connection (e.g. it gave up on a drip or a bomb)."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every open client connection (keep-alive ones included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "QuoSimulator/1.0"
    timeout = 120
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall
    server: SimulatorServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the app logs if asked to
        pass

    def _read_body(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.strip().isdigit():
            self.rfile.read(int(length))
        elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # not parsed: answer, then close

    def _dispatch(self) -> None:
        self._read_body()
        response = self.server.app.handle(self.command, self.path, self.headers.get("Authorization"))
        if response is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self._write_body(response)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. a read timeout)
            self.close_connection = True

    def _write_body(self, response: Response) -> None:
        if not response.drip_seconds:
            self.wfile.write(response.body)
            return
        self.close_connection = True  # a client that gives up mid-body closes; never reuse this one
        for index in range(len(response.body)):
            time.sleep(response.drip_seconds)
            self.wfile.write(response.body[index : index + 1])
            self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, PROPFIND...) is routed too: the app answers it like Quo
        # answers an unknown route, a 404 with the documented JSON body, and records it.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request the HTTP layer refused (a malformed request line, an oversized header) with the
        documented JSON error body instead of ``http.server``'s HTML page."""
        self.close_connection = True
        status = code if code in ERROR_CODES else 400
        text = f"Bad request: {message or HTTPStatus(code).phrase}"
        self._write(json_response(status, error_payload(status, text)))
