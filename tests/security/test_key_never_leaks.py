"""The API key never leaves the Authorization header: not in XComs, rendered fields, errors, reprs or logs.

All against a live simulator on 127.0.0.1 with a distinctive key (``conftest.SECRET_KEY``); every
check also looks for the key's secret half, so a truncated or partly masked leak is caught too.
"""

from __future__ import annotations

import logging
import socket
import traceback
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.exceptions import (
    QuoAuthenticationError,
    QuoBulkMarkError,
    QuoConnectionRefusedError,
    QuoError,
    QuoInvalidConversationIdError,
    QuoNotFoundError,
    QuoPermissionError,
    QuoServerError,
)
from airflow_provider_quo.hooks import quo as quo_module
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_done import MarkConversationDoneOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import Faults, QuoSimulator

pytestmark = pytest.mark.integration

NoKey = Callable[..., None]
NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)


class RecordingTi:
    """A task instance stand-in that keeps every XCom pushed."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture
def sim(secret_key: str) -> Iterator[QuoSimulator]:
    with QuoSimulator(api_key=secret_key, conversations=40, seed=6, now=NOW) as simulator:
        yield simulator


def full_text(error: BaseException) -> str:
    """Everything a log or a UI could show of an error: str, repr and the traceback with its causes."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


# -- XComs -------------------------------------------------------------------------------------------


def test_xcoms_of_success_and_failure_hold_no_key(
    sim: QuoSimulator, connect_with_key: Callable[..., None], assert_no_key: NoKey
) -> None:
    connect_with_key(sim)
    ids = sim.conversation_ids(deleted=False)[:10]
    ti = RecordingTi()
    result = MarkConversationReadOperator(
        task_id="read", conversation_ids=[*ids, "CNmissing"], return_conversations=True
    ).execute({"ti": ti})
    assert result["marked_count"] == 10
    assert len(ti.pushed["conversations"]) == 10
    assert_no_key(result, "the summary")
    assert_no_key(ti.pushed, "the conversations XCom")

    sim.fail_next(6 * 3, "500")  # the first three calls exhaust their retries: a failed run
    failing = RecordingTi()
    with pytest.raises(QuoBulkMarkError) as raised:
        MarkConversationDoneOperator(task_id="done", conversation_ids=ids[:3]).execute({"ti": failing})
    assert failing.pushed["return_value"]["failed_count"] == 3
    assert_no_key(failing.pushed, "the failure summary XCom")
    assert_no_key(raised.value.summary, "the error's summary")

    listed = RecordingTi()
    stale = ListStaleConversationsOperator(task_id="stale", older_than=30).execute(
        {"ti": listed, "data_interval_end": NOW}
    )
    assert stale
    assert_no_key(stale, "the stale ids")
    assert_no_key(listed.pushed, "the listing summary XCom")


# -- rendered template fields -------------------------------------------------------------------------


def test_rendered_template_fields_hold_no_key(
    sim: QuoSimulator, connect_with_key: Callable[..., None], assert_no_key: NoKey
) -> None:
    connect_with_key(sim)
    context: dict[str, Any] = {
        "params": {"ids": ["CN1", "CN2"], "conn": "quo_default", "dry": "true", "days": 30},
        "ds": "2026-11-02",
        "data_interval_end": NOW,
    }
    mark = MarkConversationReadOperator(
        task_id="mark",
        conversation_ids="{{ params.ids | join(',') }}",
        quo_conn_id="{{ params.conn }}",
        dry_run="{{ params.dry }}",
    )
    stale = ListStaleConversationsOperator(
        task_id="stale", older_than="{{ params.days }}", quo_conn_id="{{ params.conn }}", limit="{{ 5 }}"
    )
    for operator in (mark, stale):
        operator.render_template_fields(context)
        rendered = {name: getattr(operator, name) for name in operator.template_fields}
        assert rendered["quo_conn_id"] == "quo_default"
        assert_no_key(rendered, f"{operator.task_id}'s rendered fields")
    assert mark.conversation_ids == "CN1,CN2"
    # Executing the rendered dry run touches nothing and returns no key either.
    summary = mark.execute({"ti": RecordingTi()})
    assert summary["would_mark"] == ["CN1", "CN2"]
    assert_no_key(summary, "the dry-run summary")
    assert sim.requests == []


# -- error messages of every failure path -------------------------------------------------------------


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _trigger(sim: QuoSimulator, connect_with_key: Callable[..., None], path: str) -> BaseException:
    cid = sim.conversation_ids(deleted=False)[0]
    if path == "401":
        connect_with_key(sim, key=f"{sim.api_key}-revoked")  # a wrong key: the configured one is still secret
    else:
        connect_with_key(sim, retry_limit=2)
    hook = QuoHook()
    calls: dict[str, Callable[[], Any]] = {
        "401": lambda: hook.mark_conversation_as_read(cid),
        "403": lambda: list(hook.iter_conversations(phone_numbers=["PNforeign0000000000"])),
        "404": lambda: hook.mark_conversation_as_read("CNdoesNotExist"),
        "500": lambda: hook.mark_conversation_as_read(cid),
        "invalid id": lambda: hook.mark_conversation_as_read("cn-not-an-id"),
    }
    if path == "500":
        sim.fail_next(2, "500")
    if path == "connection refused":
        sim.stop()
        calls[path] = lambda: hook.mark_conversation_as_read(cid)
    try:
        calls[path]()
    except QuoError as error:
        return error
    raise AssertionError(f"{path}: no error")


@pytest.mark.parametrize(
    ("path", "error_class"),
    [
        ("401", QuoAuthenticationError),
        ("403", QuoPermissionError),
        ("404", QuoNotFoundError),
        ("500", QuoServerError),
        ("connection refused", QuoConnectionRefusedError),
        ("invalid id", QuoInvalidConversationIdError),
    ],
)
def test_error_messages_of_every_failure_path_hold_no_key(
    sim: QuoSimulator, connect_with_key: Callable[..., None], assert_no_key: NoKey, path: str, error_class: type
) -> None:
    error = _trigger(sim, connect_with_key, path)

    assert type(error) is error_class
    assert_no_key(full_text(error), f"the {path} error")
    if path == "401":
        assert f"{sim.api_key}-revoked"[8:] not in full_text(error), "nor the wrong key that was sent"


def test_operator_failure_messages_hold_no_key(
    sim: QuoSimulator, connect_with_key: Callable[..., None], assert_no_key: NoKey
) -> None:
    ids = sim.conversation_ids(deleted=False)[:5]
    connect_with_key(sim, retry_limit=2)
    sim.faults = Faults(error_rate=1.0, kinds=("503", "drop"), error_body="html")
    with pytest.raises(QuoBulkMarkError) as raised:
        MarkConversationReadOperator(task_id="read", conversation_ids=ids).execute({"ti": RecordingTi()})
    assert raised.value.summary["failed_count"] == 5
    assert_no_key(full_text(raised.value), "the bulk failure")

    connect_with_key(sim, key="quo-sec-wrong-key-0000000000")
    sim.faults = Faults()
    with pytest.raises(QuoAuthenticationError) as auth:
        MarkConversationReadOperator(task_id="read", conversation_ids=ids).execute({"ti": RecordingTi()})
    assert_no_key(full_text(auth.value), "the 401 failure")
    assert "wrong-key-0000000000" not in full_text(auth.value)


# -- reprs ---------------------------------------------------------------------------------------------


def test_reprs_of_hook_settings_and_operators_hold_no_key(
    sim: QuoSimulator, connect_with_key: Callable[..., None], assert_no_key: NoKey
) -> None:
    connect_with_key(sim)
    hook = QuoHook()
    hook.mark_conversation_as_read(sim.conversation_ids(deleted=False)[0])  # settings, session, budget all built
    assert hook.settings.api_key == sim.api_key
    for name, value in {
        "hook": hook,
        "settings": hook.settings,
        "budget": hook.budget,
        "mark operator": MarkConversationReadOperator(task_id="read", conversation_ids=["CN1"]),
        "stale operator": ListStaleConversationsOperator(task_id="stale", older_than=30),
    }.items():
        assert_no_key(repr(value), f"repr of the {name}")
        assert_no_key(str(value), f"str of the {name}")


# -- logs ----------------------------------------------------------------------------------------------


def test_no_log_record_holds_the_key_even_at_debug(
    sim: QuoSimulator,
    connect_with_key: Callable[..., None],
    assert_no_key: NoKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Standard-library records (the hook's retry warnings, urllib3's DEBUG lines) through ``caplog``,
    and the operators' own structlog events through ``structlog.testing.capture_logs``."""
    import structlog.testing

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    ids = sim.conversation_ids(deleted=False)[:30]
    connect_with_key(sim, retry_limit=3, timeout=0.2)
    sim.faults = Faults(error_rate=0.3, kinds=("500", "502", "429", "drop"), error_body="nested", slow_seconds=0.5)
    sim.fail_next(3, "slow", path_contains=ids[0])  # timeouts, and their log lines, too
    with structlog.testing.capture_logs() as events:
        with pytest.raises(QuoBulkMarkError):
            MarkConversationReadOperator(task_id="read", conversation_ids=[*ids, "CNmissing", "CNgone"]).execute(
                {"ti": RecordingTi()}
            )
        connect_with_key(sim, key="quo-sec-wrong-key-1111111111")
        with pytest.raises(QuoAuthenticationError):
            MarkConversationReadOperator(task_id="read", conversation_ids=ids).execute({"ti": RecordingTi()})
        QuoHook().test_connection()

    records = caplog.records
    assert any(r.name.startswith("urllib3") and r.levelno == logging.DEBUG for r in records), "urllib3 debug captured"
    assert any(r.name == "airflow_provider_quo.hooks.retries" for r in records), "retry warnings captured"
    for record in records:
        text = " ".join([record.getMessage(), repr(record.args), repr(record.__dict__)])
        if record.exc_info and record.exc_info[1] is not None:
            text += full_text(record.exc_info[1])
        assert_no_key(text, f"the log record {record.name}: {record.getMessage()[:80]}")
    assert_no_key(caplog.text, "the formatted log")
    summaries = [e["event"] for e in events if str(e.get("event", "")).startswith("mark-as-read: ")]
    assert any("failed, 0 not attempted, of 32" in line for line in summaries), summaries
    # The 401 run's summary was captured too (its counts are test_wrong_key's).
    assert any(" not attempted, of 30 " in line for line in summaries), summaries
    assert any(e.get("log_level") == "warning" and "401" in str(e.get("event")) for e in events)
    assert_no_key(events, "the operators' structlog events")


# -- the secret masker -------------------------------------------------------------------------------


def test_the_hook_registers_the_key_with_the_secret_masker(
    sim: QuoSimulator, connect_with_key: Callable[..., None]
) -> None:
    from airflow.sdk.log import redact

    fresh_key = f"quo-sec-fresh-{uuid.uuid4().hex}"  # never seen by the masker before this test
    connect_with_key(sim, key=fresh_key)
    line = f"Authorization: {fresh_key}"
    assert redact(line) == line, "not masked before the hook read the connection"

    with mock.patch.object(quo_module, "mask_secret", wraps=quo_module.mask_secret) as masked:
        hook = QuoHook()
        assert hook.settings.api_key == fresh_key
    masked.assert_called_once_with(fresh_key)
    assert redact(line) == "Authorization: ***"
    assert redact({"headers": {"X": fresh_key}}) == {"headers": {"X": "***"}}
    # The logging path applies it: a log line with the key comes out masked.
    assert fresh_key not in str(redact(f"retrying POST with key {fresh_key} ..."))
