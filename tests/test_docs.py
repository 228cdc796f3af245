"""The docs promise: the troubleshooting page covers every error type the provider raises."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_quo import exceptions

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_troubleshooting_has_a_section_for_every_error_type() -> None:
    error_types = [
        name
        for name, value in vars(exceptions).items()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == exceptions.__name__
    ]
    page = (DOCS / "troubleshooting.md").read_text()
    assert "QuoAuthenticationError" in error_types
    assert [name for name in error_types if f"### `{name}`" not in page] == []
