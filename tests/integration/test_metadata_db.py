"""The integration tests run on the metadata DB QUO_TEST_DB names: SQLite by default, PostgreSQL in
``make test-postgres``."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.integration


def test_the_metadata_db_is_the_backend_asked_for(airflow_db: None) -> None:
    from airflow.settings import engine

    expected = {"sqlite": "sqlite", "postgres": "postgresql"}[os.environ.get("QUO_TEST_DB", "sqlite")]
    assert engine is not None
    assert engine.dialect.name == expected
    with engine.connect() as connection:
        assert connection.exec_driver_sql("select 1").scalar() == 1
