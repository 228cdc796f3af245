"""The task log names the conversations that were not found: the first 20, then " ...", as a warning."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import QuoSimulator

pytestmark = pytest.mark.integration

TASK_LOG = logging.getLogger("test.quo.not_found_log")


@pytest.fixture(autouse=True)
def stdlib_task_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send the operator's log to a stdlib logger (Airflow's is structlog), so ``caplog`` sees it."""
    monkeypatch.setattr(MarkConversationReadOperator, "log", property(lambda self: TASK_LOG))


def test_the_task_log_names_the_first_20_not_found_ids(
    connect: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    with QuoSimulator(api_key="nf-key", conversations=5) as sim:
        unknown = [f"CN{n:030d}" for n in range(25)]
        connect(sim)
        op = MarkConversationReadOperator(task_id="nf", conversation_ids=unknown)

        with caplog.at_level(logging.INFO, logger=TASK_LOG.name):
            summary: dict[str, Any] = op.execute({"ti": mock.MagicMock(name="ti")})

        assert summary["not_found_count"] == 25
        [line] = [r for r in caplog.records if " not found: " in r.getMessage()]
        assert line.levelno == logging.WARNING
        message = line.getMessage()
        assert message.startswith("mark-as-read: 25 not found: ")
        listed = message.split(" not found: ", 1)[1]
        assert listed.endswith(" ..."), "more than 20: the rest are elided"
        named = listed.removesuffix(" ...").split(", ")
        assert named == summary["not_found"][:20]
        assert set(named) <= set(unknown)
