"""A TLS failure on loopback hints at the usual cause: a plain-http local server behind a scheme-less base URL."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_provider_quo.exceptions import QuoTLSError
from airflow_provider_quo.hooks.quo import QuoHook

HINT = "is this an http:// server?"


def hook_for(host: str, monkeypatch: pytest.MonkeyPatch) -> QuoHook:
    connection = {"conn_type": "quo", "password": "k", "host": host, "extra": {"requests_per_second": 1e5}}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", json.dumps(connection))
    return QuoHook()


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "https://[::1]:8765"])
def test_tls_error_on_loopback_asks_whether_the_server_is_plain_http(host, monkeypatch, requests_mock):
    hook = hook_for(host, monkeypatch)
    requests_mock.get(f"{hook.base_url}/v1/phone-numbers", exc=requests.exceptions.SSLError("WRONG_VERSION_NUMBER"))
    with pytest.raises(QuoTLSError, match="WRONG_VERSION_NUMBER") as caught:
        hook.request("GET", "v1", "phone-numbers", retries=False)
    assert hook.base_url.startswith("https://")
    assert HINT in str(caught.value)


def test_tls_error_elsewhere_has_no_loopback_hint(monkeypatch, requests_mock):
    hook = hook_for("api.quo.example", monkeypatch)
    requests_mock.get(
        f"{hook.base_url}/v1/phone-numbers", exc=requests.exceptions.SSLError("certificate verify failed")
    )
    with pytest.raises(QuoTLSError, match="certificate verify failed") as caught:
        hook.request("GET", "v1", "phone-numbers", retries=False)
    assert HINT not in str(caught.value)
