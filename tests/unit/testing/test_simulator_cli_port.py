"""The simulator CLI's port: a default that does not clash with Airflow's 8080, and a clear error when taken."""

from __future__ import annotations

import socket

import pytest

from airflow_provider_quo.testing.__main__ import DEFAULT_PORT, build_parser, main


def test_default_port_is_not_airflows_api_server_port() -> None:
    assert build_parser().parse_args([]).port == DEFAULT_PORT
    assert DEFAULT_PORT != 8080


def test_a_taken_port_fails_with_the_port_and_the_way_out(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            main(["--port", str(port)])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in error
    assert "--port 0" in error
