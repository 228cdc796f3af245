"""The one table of what each failure means: every error maps to a row, and each layer's answer comes from it."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_quo.dispositions import DISPOSITIONS, disposition, kind_of, status_kind
from airflow_provider_quo.exceptions import (
    QuoAPIError,
    QuoConnectionError,
    QuoConnectionRefusedError,
    QuoError,
    QuoInvalidConversationIdError,
    QuoNotSentError,
    QuoTimeoutError,
    QuoTLSError,
    QuoUnexpectedResponseError,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        *[(400, "400"), (422, "400"), (401, "401"), (403, "403"), (404, "404"), (408, "408"), (429, "429")],
        *[(500, "5xx"), (503, "5xx"), (599, "5xx"), (501, "5xx_permanent"), (505, "5xx_permanent")],
        *[(511, "5xx_permanent"), (302, "http_other"), (409, "http_other"), (418, "http_other")],
    ],
)
def test_every_status_has_a_row(status: int, kind: str) -> None:
    assert status_kind(status) == kind
    assert QuoAPIError(status=status).kind == kind
    assert disposition(QuoAPIError(status=status)) is DISPOSITIONS[kind]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (QuoTLSError("x"), "tls"),
        (QuoTimeoutError("x"), "timeout"),
        (QuoConnectionError("x"), "connection"),
        (QuoConnectionRefusedError("x"), "connection_refused"),
        (QuoNotSentError("x"), "not_sent"),
        (QuoInvalidConversationIdError("x"), "bad_input"),
        (ValueError("x"), "bad_input"),
        (QuoUnexpectedResponseError(status=200), "unexpected_response"),
        (requests.ConnectionError("x"), "connection"),
        (requests.exceptions.ChunkedEncodingError("x"), "connection"),
        (QuoError("x"), "other"),
        (KeyError("x"), "other"),
    ],
)
def test_every_error_has_a_row(error: BaseException, kind: str) -> None:
    assert kind_of(error) == kind
    assert disposition(error) is DISPOSITIONS[kind]
