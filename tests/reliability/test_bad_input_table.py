"""Malformed ``conversation_ids``: rejected before any request, or sent as exactly one encoded path segment.

Each row gives a value, what the operator must send for it (the ids, ``REJECT`` for an error before
any request naming the bad value, or ``[]`` for "nothing to do"), and what the hook's single-id call
``mark_conversation_as_read(value)`` must do (the one raw path segment it sends, or ``REJECT``). The
expected segments are written out by hand, not computed with the code under test. The last test runs
the whole table against one simulator and checks that not a single request left
``POST /v1/conversations/{one segment}/mark-as-read``. With ``on_invalid_id="skip"`` the valid ids of
a list are marked and each invalid one is counted and logged once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote

import pytest

from airflow_provider_quo.exceptions import QuoError, QuoInvalidConversationIdError
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from airflow_provider_quo.testing import QuoSimulator

pytestmark = pytest.mark.integration

REJECT = "reject"
ONE_MARK_PATH = re.compile(r"^/v1/conversations/([^/?#]+)/mark-as-read$")
LONG = "CN" + "A" * 9_998


@dataclass(frozen=True)
class Row:
    """One malformed value and what must happen to it.

    :param value: what a DAG passes as ``conversation_ids`` (and to the hook as one id).
    :param operator: the ids the operator sends, ``REJECT``, or ``[]`` for a no-op.
    :param hook: the raw path segment the hook sends for the value, or ``REJECT``.
    :param names: substrings the operator's rejection message must contain (default: the value's repr,
        or its first 30 characters for a long one).
    """

    value: Any
    operator: list[str] | str
    hook: str
    names: tuple[str, ...] = field(default=())

    def expected_names(self) -> tuple[str, ...]:
        if self.names:
            return self.names
        text = repr(self.value)
        return (text if len(text) <= 60 else text[:30],)


ROWS: dict[str, Row] = {
    "none": Row(None, REJECT, REJECT),
    "empty-string": Row("", [], REJECT),
    "blank-string": Row("   ", [], REJECT),
    "int": Row(12345, REJECT, REJECT),
    "float": Row(3.5, REJECT, REJECT),
    "lowercase-prefix": Row("cn123", REJECT, REJECT),
    "prefix-only": Row("CN", REJECT, REJECT),
    "inner-space": Row("CN 1", REJECT, REJECT, names=("'CN'", "'1'")),
    "slash": Row("CN1/x", ["CN1/x"], "CN1%2Fx"),
    "query": Row("CN1?x=1", ["CN1?x=1"], "CN1%3Fx%3D1"),
    "fragment": Row("CN1#x", ["CN1#x"], "CN1%23x"),
    "traversal": Row(
        "CN1/../../v1/phone-numbers", ["CN1/../../v1/phone-numbers"], "CN1%2F..%2F..%2Fv1%2Fphone-numbers"
    ),
    "dot-dot": Row("..", REJECT, REJECT),
    "encoded-slash": Row("%2F", REJECT, REJECT),
    "double-encoding": Row("CN%2F..", ["CN%2F.."], "CN%252F.."),
    "percent-nul": Row("CN%00", ["CN%00"], "CN%2500"),
    "backslash": Row("CN1\\..\\x", ["CN1\\..\\x"], "CN1%5C..%5Cx"),
    "semicolon": Row("CN1;x", ["CN1;x"], "CN1%3Bx"),
    "accented": Row("CNé", ["CNé"], "CN%C3%A9"),
    "fullwidth": Row("ＣＮ1", REJECT, REJECT),
    "nul": Row("CN\x00", REJECT, REJECT),
    "ansi-escape": Row("CN\x1b[31m", REJECT, REJECT),
    "zero-width-space": Row("CN\u200b1", REJECT, REJECT),
    "no-break-space": Row("CN\u00a01", REJECT, REJECT),  # not a separator: one invalid id
    # Characters str.split() would treat as whitespace: refused, never stripped into a valid "CN1".
    "unit-separator": Row(["CN1", "CN1\x1f"], REJECT, REJECT, names=("'CN1\\x1f'",)),
    "line-separator": Row(["CN1", "CN1\u2028"], REJECT, REJECT, names=("'CN1\\u2028'",)),
    "paragraph-separator": Row(["CN1", "\u2029CN1"], REJECT, REJECT, names=("'\\u2029CN1'",)),
    "next-line": Row(["CN1", "CN\u00851"], REJECT, REJECT, names=("'CN\\x851'",)),
    "crlf-header-injection": Row("CN1\r\nX-Evil: 1", REJECT, REJECT, names=("'X-Evil:'",)),
    "10000-chars": Row(LONG, REJECT, REJECT, names=("'CNAAAAAAAAAAAAAAAAAAAAAAAAAA", "10002 chars")),
    "dict": Row({"id": "CN1"}, REJECT, REJECT),
    "nested-list": Row([["CN1"]], REJECT, REJECT, names=("['CN1']",)),
    "list-with-none": Row(["CN1", None], REJECT, REJECT, names=("None",)),
    "broken-json-list": Row('["CN1", ', REJECT, REJECT),
    "json-list-with-bad-id": Row('["CN1", "cn2"]', REJECT, REJECT, names=("'cn2'",)),
    "duplicates": Row(["CN1", "CN1"], ["CN1"], REJECT),
    "newline-separated": Row("CN1\nCN2", ["CN1", "CN2"], REJECT),
    "trailing-space": Row("CN1 ", ["CN1"], REJECT),
    "bytes": Row(b"CN1", REJECT, REJECT),
    "bool": Row(True, REJECT, REJECT),
    "string-none": Row("None", REJECT, REJECT),
}


def segment(raw_path: str) -> str:
    match = ONE_MARK_PATH.fullmatch(raw_path)
    assert match, f"request outside POST /v1/conversations/{{one segment}}/mark-as-read: {raw_path!r}"
    return match.group(1)


def check_operator(sim: QuoSimulator, row: Row) -> None:
    before = len(sim.requests)
    operator = MarkConversationReadOperator(task_id="bad_input", conversation_ids=row.value)
    if row.operator == REJECT:
        with pytest.raises(QuoInvalidConversationIdError) as raised:
            operator.execute({"ti": mock.MagicMock(name="ti")})
        assert isinstance(raised.value, QuoError)
        message = str(raised.value)
        for name in row.expected_names():
            assert name in message, f"{message!r} does not name {name!r}"
        assert len(message) < 2_000
        assert message.isprintable(), "no raw newline or control character reaches the log"
        assert len(sim.requests) == before, "rejected before any request"
        return
    summary = operator.execute({"ti": mock.MagicMock(name="ti")})
    sent = sim.requests[before:]
    assert len(sent) == len(row.operator), "one request per distinct id"
    assert [unquote(segment(r.raw_path)) for r in sent] == row.operator
    assert all(r.method == "POST" for r in sent)
    assert summary["requested"] == len(row.operator)
    assert summary["not_found"] == row.operator  # none of them exists in the workspace


def check_hook(sim: QuoSimulator, row: Row) -> None:
    before = len(sim.requests)
    hook = QuoHook()
    if row.hook == REJECT:
        with pytest.raises(QuoInvalidConversationIdError) as raised:
            hook.mark_conversation_as_read(row.value)
        assert repr(row.value)[:30] in str(raised.value)
        assert len(sim.requests) == before, "rejected before any request"
        return
    with pytest.raises(QuoError):  # the id is unknown: a 404, after exactly one request
        hook.mark_conversation_as_read(row.value)
    sent = sim.requests[before:]
    assert len(sent) == 1
    assert segment(sent[0].raw_path) == row.hook
    assert sent[0].status == 404


@pytest.fixture(scope="module")
def table_sim() -> Any:
    with QuoSimulator(api_key="bad-input-key", conversations=5, seed=1) as sim:
        yield sim


@pytest.fixture
def connected(table_sim: QuoSimulator, monkeypatch: pytest.MonkeyPatch) -> QuoSimulator:
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", table_sim.connection_json({"requests_per_second": 100_000}))
    return table_sim


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_operator_rejects_or_sends_one_segment_per_id(connected: QuoSimulator, row: Row) -> None:
    check_operator(connected, row)


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_hook_rejects_or_sends_exactly_one_segment(connected: QuoSimulator, row: Row) -> None:
    check_hook(connected, row)


def test_the_whole_table_sends_nothing_outside_one_mark_as_read_segment(
    connect: Callable[..., None],
) -> None:
    expected_sent = sum(len(r.operator) for r in ROWS.values() if r.operator != REJECT)
    expected_sent += sum(r.hook != REJECT for r in ROWS.values())
    assert len(ROWS) >= 20
    with QuoSimulator(api_key="bad-input-key", conversations=5, seed=1) as sim:
        connect(sim)
        for row in ROWS.values():
            check_operator(sim, row)
            check_hook(sim, row)

        records = sim.requests
        assert len(records) == expected_sent
        assert all(r.method == "POST" and r.query == [] for r in records)
        assert all(ONE_MARK_PATH.fullmatch(r.raw_path) for r in records)
        assert sim.request_count(path_prefix="/v1/phone-numbers") == 0
        assert {r.endpoint for r in records} == {"POST /v1/conversations/{id}/mark-as-read"}
        assert {r.status for r in records} == {404}


# -- on_invalid_id="skip": the valid ids of a listing are marked, the invalid ones counted -------------


def test_skip_marks_the_valid_ids_of_a_listing_and_counts_each_invalid_one_once(
    connect: Callable[..., None], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    task_log = logging.getLogger("test.quo.bad_input")
    monkeypatch.setattr(MarkConversationReadOperator, "log", property(lambda self: task_log))
    with QuoSimulator(api_key="ids-key", conversations=35) as sim:
        ids = sim.conversation_ids(deleted=False)[:29]
        given = [*ids[:10], "CN has a space", *ids[10:], "CN1\x1f", "CN1\u2028", "CN has a space", 6]
        connect(sim)
        operator = MarkConversationReadOperator(task_id="ids", conversation_ids=given, on_invalid_id="skip")

        with caplog.at_level(logging.INFO, logger=task_log.name):
            summary = operator.execute({"ti": mock.MagicMock(name="ti")})

        assert summary["marked_count"] == 29
        assert sim.read_ids() == set(ids)
        assert len(sim.requests) == 29, "only the valid ids were sent"
        assert all(r.method == "POST" and ONE_MARK_PATH.fullmatch(r.raw_path) for r in sim.requests)
        assert summary["requested"] == 33, "distinct entries: 29 ids and 4 invalid ones"
        assert summary["invalid_count"] == len(summary["invalid"]) == 4
        assert summary["invalid"][0] == (
            "'CN has a space' (contains whitespace or control characters (U+0020, a space, at index 2))"
        )
        assert "U+2028" in summary["invalid"][2]
        counted = ("marked_count", "not_found_count", "failed_count", "not_attempted_count", "invalid_count")
        assert sum(summary[key] for key in counted) == summary["requested"]
        [line] = [r.getMessage() for r in caplog.records if "invalid conversation id" in r.getMessage()]
        assert line.startswith("mark-as-read: skipped 4 invalid conversation id(s): 'CN has a space' (")
        assert "4 invalid (skipped), of 33" in caplog.text
