"""MarkConversationReadOperator: every form ``conversation_ids`` can take, validation and no-op runs."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest

from airflow_provider_quo.exceptions import QuoInvalidConversationIdError
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from tests.mark_echo import echo_conversation

MARK_READ = re.compile(r"/v1/conversations/[^/?]+/mark-as-read$")
TASK_LOG = logging.getLogger("test.quo.mark_read")


@pytest.fixture(autouse=True)
def stdlib_task_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send the operator's log to a stdlib logger (Airflow's is structlog), so ``caplog`` sees it."""
    monkeypatch.setattr(MarkConversationReadOperator, "log", property(lambda self: TASK_LOG))


def make_operator(conversation_ids: Any, **kwargs: Any) -> MarkConversationReadOperator:
    return MarkConversationReadOperator(task_id="mark_read", conversation_ids=conversation_ids, **kwargs)


def run(op: MarkConversationReadOperator) -> dict[str, Any]:
    return op.execute({"ti": mock.MagicMock()})


def posted_ids(requests_mock: Any) -> list[str]:
    """The conversation ids of every POST sent, in order (case preserved)."""
    return [urlsplit(r.url).path.split("/")[3] for r in requests_mock.request_history if r.method == "POST"]


@pytest.fixture
def mark_ok(requests_mock: Any, quo_conn: str) -> Any:
    requests_mock.post(MARK_READ, json=echo_conversation)
    return requests_mock


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("CNabc123", ["CNabc123"], id="one-id"),
        pytest.param("  CNabc123\n", ["CNabc123"], id="one-id-padded"),
        pytest.param(["CN1", "CN2", "CN3"], ["CN1", "CN2", "CN3"], id="list"),
        pytest.param(("CN1", "CN2"), ["CN1", "CN2"], id="tuple"),
        pytest.param("CN1,CN2, CN3", ["CN1", "CN2", "CN3"], id="comma-string"),
        pytest.param("CN1 CN2\nCN3\tCN4", ["CN1", "CN2", "CN3", "CN4"], id="whitespace-string"),
        pytest.param('["CN1", "CN2"]', ["CN1", "CN2"], id="json-list-string"),
        pytest.param("['CN1', 'CN2']", ["CN1", "CN2"], id="python-literal-string"),
        pytest.param(["CN2", " CN1 ", "", "CN2", "CN1", "   ", "CN3"], ["CN2", "CN1", "CN3"], id="blanks-duplicates"),
        pytest.param("CN1, CN1,,CN2 CN1", ["CN1", "CN2"], id="string-duplicates"),
        pytest.param('["CN9", "CN9", ""]', ["CN9"], id="json-duplicates"),
    ],
)
def test_input_forms_mark_each_distinct_id_once_in_order(mark_ok: Any, value: Any, expected: list[str]) -> None:
    # one worker: the first id goes alone, then one thread takes the rest in order
    summary = run(make_operator(value, max_workers=1))

    assert posted_ids(mark_ok) == expected
    assert summary["requested"] == len(expected)
    assert summary["marked_count"] == len(expected)
    assert summary["marked"] == expected
    assert summary["failed"] == {}


def test_set_input_marks_every_member_once(mark_ok: Any) -> None:
    ids = {"CN1", "CN2", "CN3", "CN4"}
    summary = run(make_operator(ids))

    assert Counter(posted_ids(mark_ok)) == Counter(ids)
    assert set(summary["marked"]) == ids
    assert summary["marked_count"] == 4


def test_generator_input_is_accepted(mark_ok: Any) -> None:
    summary = run(make_operator(f"CN{n}" for n in range(3)))
    assert sorted(posted_ids(mark_ok)) == ["CN0", "CN1", "CN2"]
    assert summary["marked_count"] == 3


@pytest.mark.parametrize(
    ("template", "ids"),
    [
        pytest.param("{{ ids }}", ["CN1", "CN2"], id="str-of-list"),
        pytest.param("{{ ids | tojson }}", ["CN1", "CN2"], id="tojson"),
        pytest.param("{{ ids | join(',') }}", ["CN1", "CN2"], id="joined"),
    ],
)
def test_jinja_rendered_ids(mark_ok: Any, template: str, ids: list[str]) -> None:
    op = make_operator(template, max_workers=1)
    op.render_template_fields({"ids": ids})
    assert isinstance(op.conversation_ids, str)

    summary = run(op)

    assert posted_ids(mark_ok) == ids
    assert summary["marked"] == ids


@pytest.mark.parametrize(
    ("value", "bad_repr"),
    [
        pytest.param(["CN1", "CN2", "XX3"], "'XX3'", id="last-in-list"),
        pytest.param(["bad", "CN1", "CN2"], "'bad'", id="first-in-list"),
        pytest.param("CN1, cn2, CN3", "'cn2'", id="lowercase-prefix-in-string"),
        pytest.param(["CN1", "CN 2"], "'CN 2'", id="inner-space"),
        pytest.param(["CN1", 123], "123", id="integer"),
        pytest.param('["CN1", null]', "None", id="json-null"),
        pytest.param(["CN1", "CN"], "'CN'", id="prefix-only"),
        pytest.param(["CN1", "CN2\x00"], "'CN2\\x00'", id="control-char"),
        pytest.param("https://example.com/CN1", "'https://example.com/CN1'", id="url"),
        pytest.param(["CN1", "CN" + "a" * 300], "longer than 256", id="too-long"),
    ],
)
def test_invalid_id_anywhere_fails_before_any_request(
    requests_mock: Any, quo_conn: str, value: Any, bad_repr: str
) -> None:
    requests_mock.post(MARK_READ, json=echo_conversation)
    with pytest.raises(QuoInvalidConversationIdError) as excinfo:
        run(make_operator(value))

    assert requests_mock.call_count == 0
    assert bad_repr in str(excinfo.value)
    assert "nothing was sent" in str(excinfo.value)


def test_invalid_ids_message_lists_the_first_twenty(requests_mock: Any, quo_conn: str) -> None:
    value = ["CN_ok"] + [f"bad{n}" for n in range(25)]
    with pytest.raises(QuoInvalidConversationIdError) as excinfo:
        run(make_operator(value))

    message = str(excinfo.value)
    assert requests_mock.call_count == 0
    assert message.startswith("25 invalid conversation id(s)")
    assert all(f"'bad{n}'" in message for n in range(20))
    assert "'bad20'" not in message
    assert "'bad24'" not in message
    assert "and 5 more" in message
    assert "CN_ok" not in message


def test_invalid_ids_fail_even_in_dry_run(requests_mock: Any, quo_conn: str) -> None:
    with pytest.raises(QuoInvalidConversationIdError, match="'nope'"):
        run(make_operator(["CN1", "nope"], dry_run=True))
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("value", ["[not json", "[1, 2", '{"a": 1}'])
def test_unparseable_or_wrong_shape_strings_fail(requests_mock: Any, quo_conn: str, value: str) -> None:
    with pytest.raises(QuoInvalidConversationIdError):
        run(make_operator(value))
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("value", [42, {"CN1": 1}, b"CN1"])
def test_non_string_non_list_values_fail(requests_mock: Any, quo_conn: str, value: Any) -> None:
    with pytest.raises(QuoInvalidConversationIdError, match="must be a string or a list"):
        run(make_operator(value))
    assert requests_mock.call_count == 0


def test_none_is_an_error(requests_mock: Any, quo_conn: str) -> None:
    with pytest.raises(QuoInvalidConversationIdError, match="None"):
        run(make_operator(None))
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("value", [[], (), "", "   ", "[]", " [ ] ", ",, ,", ["", "  "]])
def test_empty_input_is_a_logged_no_op(
    requests_mock: Any, quo_conn: str, caplog: pytest.LogCaptureFixture, value: Any
) -> None:
    requests_mock.post(MARK_READ, json=echo_conversation)
    caplog.set_level(logging.INFO, logger="test.quo.mark_read")

    summary = run(make_operator(value))

    assert requests_mock.call_count == 0
    assert summary["requested"] == 0
    assert summary["marked_count"] == 0
    assert summary["failed_count"] == 0
    assert summary["not_attempted_count"] == 0
    assert any("nothing to do" in r.getMessage() for r in caplog.records if r.name == "test.quo.mark_read")


def test_empty_input_dry_run_is_a_no_op_too(requests_mock: Any, quo_conn: str) -> None:
    summary = run(make_operator("[]", dry_run="true"))
    assert requests_mock.call_count == 0
    assert summary["dry_run"] is True
    assert summary["requested"] == 0


def test_large_list_marks_two_thousand_ids_once_each(mark_ok: Any) -> None:
    ids = [f"CN{n:05d}" for n in range(2000)]
    summary = run(make_operator(ids, progress_interval=3600))

    sent = posted_ids(mark_ok)
    assert mark_ok.call_count == 2000
    assert len(sent) == 2000
    assert len(set(sent)) == 2000
    assert set(sent) == set(ids)
    assert summary["marked_count"] == 2000
    assert summary["requested"] == 2000
    assert summary["not_attempted_count"] == 0
    assert sorted(summary["marked"]) == ids
    json.dumps(summary)


def test_large_json_string_with_duplicates(mark_ok: Any) -> None:
    ids = [f"CN{n}" for n in range(300)]
    summary = run(make_operator(json.dumps(ids + ids[:50])))

    assert mark_ok.call_count == 300
    assert Counter(posted_ids(mark_ok)) == Counter(ids)
    assert summary["requested"] == 300


# -- on_invalid_id ---------------------------------------------------------------------------------
# "skip" marking the valid ids of a list and counting the invalid ones, against a real server:
# tests/reliability/test_bad_input_table.py.

MIXED = ["CN1", "CN 2", "CN3", "CN4\u2028", "cn5", "CN1", "CN 2", 6]


def test_on_invalid_id_fail_is_the_default_and_counts_each_bad_id_once(requests_mock: Any, quo_conn: str) -> None:
    requests_mock.post(MARK_READ, json=echo_conversation)
    with pytest.raises(QuoInvalidConversationIdError, match=r"^4 invalid conversation id"):
        run(make_operator(MIXED))
    assert requests_mock.call_count == 0


def test_on_invalid_id_skip_with_only_invalid_ids_sends_nothing(requests_mock: Any, quo_conn: str) -> None:
    summary = run(make_operator(["CN 1", "x"], on_invalid_id="skip"))
    assert requests_mock.call_count == 0
    assert (summary["requested"], summary["invalid_count"], summary["not_attempted_count"]) == (2, 2, 0)


def test_on_invalid_id_skip_still_rejects_what_is_not_a_list_of_ids() -> None:
    with pytest.raises(QuoInvalidConversationIdError, match="must be a string or a list"):
        run(make_operator({"id": "CN1"}, on_invalid_id="skip"))


@pytest.mark.parametrize("value", ["ignore", "", None, "SKIP"])
def test_on_invalid_id_value_is_checked_in_the_constructor(value: Any) -> None:
    with pytest.raises(ValueError, match="on_invalid_id must be 'skip' or 'fail'"):
        make_operator("CN1", on_invalid_id=value)
