"""Mark operators: dry runs, the done/open endpoints, pass-through settings, templating and secrecy."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.exceptions import QuoAuthenticationError, QuoBulkMarkError
from airflow_provider_quo.hooks import quo as quo_module
from airflow_provider_quo.operators import _mark_base
from airflow_provider_quo.operators._mark_base import BaseMarkConversationsOperator
from airflow_provider_quo.operators.mark_conversation_done import MarkConversationDoneOperator
from airflow_provider_quo.operators.mark_conversation_open import MarkConversationOpenOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from tests.mark_echo import echo_conversation

ANY_MARK = re.compile(r"/v1/conversations/[^/?]+/mark-as-\w+$")
TASK_LOG = logging.getLogger("test.quo.options")
OPERATORS = [MarkConversationReadOperator, MarkConversationDoneOperator, MarkConversationOpenOperator]
SECRET_KEY = "qk_live_SECRET_9f8e7d6c5b"


@pytest.fixture(autouse=True)
def stdlib_task_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BaseMarkConversationsOperator, "log", property(lambda self: TASK_LOG))


def execute(op: BaseMarkConversationsOperator) -> dict[str, Any]:
    return op.execute({"ti": mock.MagicMock()})


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == TASK_LOG.name]


# -- dry run -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [True, "True", "true", " TRUE ", "yes", "1", "on"])
def test_dry_run_sends_nothing_and_returns_would_mark(requests_mock: Any, dry_run: Any) -> None:
    # no connection is defined at all: a dry run must not need one
    summary = execute(MarkConversationReadOperator(task_id="t", conversation_ids="CN2 CN1 CN2", dry_run=dry_run))

    assert requests_mock.call_count == 0
    assert summary["dry_run"] is True
    assert summary["would_mark"] == ["CN2", "CN1"]
    assert summary["requested"] == 2
    assert summary["marked_count"] == 0
    assert summary["not_attempted_count"] == 2
    json.dumps(summary)


@pytest.mark.parametrize("dry_run", [False, "False", "false", "0", "no"])
def test_dry_run_false_values_send_requests(requests_mock: Any, quo_conn: str, dry_run: Any) -> None:
    requests_mock.post(ANY_MARK, json=echo_conversation)
    summary = execute(MarkConversationReadOperator(task_id="t", conversation_ids="CN1", dry_run=dry_run))
    assert requests_mock.call_count == 1
    assert summary["dry_run"] is False
    assert "would_mark" not in summary


def test_dry_run_from_a_rendered_template(requests_mock: Any) -> None:
    op = MarkConversationReadOperator(task_id="t", conversation_ids="{{ ids }}", dry_run="{{ params.dry }}")
    op.render_template_fields({"ids": ["CN1", "CN2"], "params": {"dry": True}})
    assert op.dry_run == "True"

    summary = execute(op)

    assert requests_mock.call_count == 0
    assert summary["would_mark"] == ["CN1", "CN2"]


@pytest.mark.parametrize("dry_run", ["maybe", "ture", "2", 2])
def test_invalid_dry_run_is_an_error_naming_it(requests_mock: Any, quo_conn: str, dry_run: Any) -> None:
    with pytest.raises(ValueError, match=r"dry_run.*" + re.escape(repr(dry_run))):
        execute(MarkConversationReadOperator(task_id="t", conversation_ids="CN1", dry_run=dry_run))
    assert requests_mock.call_count == 0


def test_dry_run_logs_at_most_twenty_ids(requests_mock: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=TASK_LOG.name)
    ids = [f"CN{n:02d}" for n in range(25)]
    summary = execute(MarkConversationReadOperator(task_id="t", conversation_ids=ids, dry_run=True))

    [line] = [m for m in messages(caplog) if "dry run" in m]
    assert "would mark 25" in line
    assert "CN19" in line
    assert "CN20" not in line
    assert line.endswith(" ...")
    assert summary["would_mark"] == ids


def test_dry_run_without_marked_ids_lists_none(requests_mock: Any) -> None:
    op = MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2", dry_run=True, include_marked_ids=False)
    summary = execute(op)
    assert summary["would_mark"] == []
    assert summary["requested"] == 2


# -- done and open -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "action"), [(MarkConversationDoneOperator, "done"), (MarkConversationOpenOperator, "open")]
)
def test_done_and_open_hit_their_endpoints(requests_mock: Any, quo_conn: str, operator: type, action: str) -> None:
    requests_mock.post(f"{quo_conn}/v1/conversations/CN1/mark-as-{action}", json={"id": "CN1"})
    requests_mock.post(
        f"{quo_conn}/v1/conversations/CN2/mark-as-{action}",
        status_code=404,
        json={"message": "Conversation not found", "title": "Not Found"},
    )
    summary = execute(operator(task_id="t", conversation_ids=["CN1", "CN2"]))

    assert {r.url for r in requests_mock.request_history} == {
        f"{quo_conn}/v1/conversations/CN1/mark-as-{action}",
        f"{quo_conn}/v1/conversations/CN2/mark-as-{action}",
    }
    assert all(r.method == "POST" for r in requests_mock.request_history)
    assert summary["action"] == action
    assert summary["marked"] == ["CN1"]
    assert summary["not_found"] == ["CN2"]


@pytest.mark.parametrize("operator", OPERATORS)
def test_all_mark_operators_share_the_base_execute(operator: type) -> None:
    assert issubclass(operator, BaseMarkConversationsOperator)
    assert operator.execute is BaseMarkConversationsOperator.execute
    assert {"conversation_ids", "quo_conn_id", "dry_run", "requests_per_second"} <= set(operator.template_fields)


# -- settings passed through -----------------------------------------------------------------------


def test_requests_per_second_and_conn_id_reach_the_hook(
    requests_mock: Any, quo_conn: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hooks: list[quo_module.QuoHook] = []
    calls: list[dict[str, Any]] = []

    class SpyHook(quo_module.QuoHook):
        def __init__(self, **kwargs: Any) -> None:
            calls.append(kwargs)
            super().__init__(**kwargs)
            hooks.append(self)

    monkeypatch.setattr(_mark_base, "QuoHook", SpyHook)
    monkeypatch.setenv(  # a key budget above the task's cap: the cap is what the hook uses
        "AIRFLOW_CONN_QUO_OTHER",
        '{"conn_type": "quo", "password": "k2", "host": "https://other.test", "extra": {"requests_per_second": 1e5}}',
    )
    requests_mock.post(ANY_MARK, json=echo_conversation)
    caplog.set_level(logging.INFO, logger=TASK_LOG.name)

    op = MarkConversationReadOperator(
        task_id="t", conversation_ids="CN1 CN2", quo_conn_id="quo_other", requests_per_second=12345.0
    )
    execute(op)

    assert calls == [{"quo_conn_id": "quo_other", "requests_per_second": 12345.0}]
    assert hooks[0].budget.rate == 12345.0
    assert {r.netloc for r in requests_mock.request_history} == {"other.test"}
    assert any("up to 12345 requests/s" in m for m in messages(caplog))


@pytest.mark.parametrize(("max_workers", "expected"), [(3, 3), ("2", 2), (1, 1), (None, 64)])
def test_max_workers_reaches_the_pool(
    requests_mock: Any, quo_conn: str, monkeypatch: pytest.MonkeyPatch, max_workers: Any, expected: int
) -> None:
    seen: list[int] = []
    real = quo_module.run_concurrently

    def spy(call: Any, items: Any, *, workers: Any, **kwargs: Any) -> Any:
        seen.append(workers() if callable(workers) else workers)  # the default is asked after the first call
        return real(call, items, workers=workers, **kwargs)

    monkeypatch.setattr(quo_module, "run_concurrently", spy)
    requests_mock.post(ANY_MARK, json=echo_conversation)
    summary = execute(
        MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2 CN3", max_workers=max_workers)
    )

    assert seen == [expected]  # None: the hook's default, 64 at the connection's 100000/s
    assert summary["marked_count"] == 3


@pytest.mark.parametrize("max_workers", [0, "0", -1, "many", True])
def test_invalid_max_workers_fails_before_any_request(requests_mock: Any, quo_conn: str, max_workers: Any) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        execute(MarkConversationReadOperator(task_id="t", conversation_ids="CN1", max_workers=max_workers))
    assert requests_mock.call_count == 0


# -- progress ------------------------------------------------------------------------------------


def test_progress_lines_appear_with_a_zero_interval(
    requests_mock: Any, quo_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(ANY_MARK, json=echo_conversation)
    caplog.set_level(logging.INFO, logger=TASK_LOG.name)
    execute(
        MarkConversationReadOperator(task_id="t", conversation_ids=[f"CN{n}" for n in range(20)], progress_interval=0)
    )
    progress = [m for m in messages(caplog) if "/20 done" in m]
    assert progress
    assert all("ETA" in m and "failed so far" in m for m in progress)
    assert not any("20/20 done" in m for m in progress)


def test_no_progress_lines_within_the_interval(
    requests_mock: Any, quo_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(ANY_MARK, json=echo_conversation)
    caplog.set_level(logging.INFO, logger=TASK_LOG.name)
    execute(
        MarkConversationReadOperator(
            task_id="t", conversation_ids=[f"CN{n}" for n in range(20)], progress_interval=3600
        )
    )
    assert not any("done (" in m for m in messages(caplog))


# -- the API key stays secret -----------------------------------------------------------------------


@pytest.fixture
def secret_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    base_url = "http://127.0.0.1:8998"
    conn = {"conn_type": "quo", "password": SECRET_KEY, "host": base_url, "extra": {"requests_per_second": 100000}}
    monkeypatch.setenv("AIRFLOW_CONN_QUO_DEFAULT", json.dumps(conn))
    return base_url


def assert_key_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records  # something was logged
    for record in caplog.records:
        assert SECRET_KEY not in record.getMessage()
        assert SECRET_KEY not in repr(record.args)


def test_api_key_never_in_repr_summary_or_logs(
    requests_mock: Any, secret_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.post(f"{secret_conn}/v1/conversations/CN1/mark-as-read", json={"id": "CN1"})
    requests_mock.post(f"{secret_conn}/v1/conversations/CN2/mark-as-read", status_code=404, json={"message": "gone"})
    requests_mock.post(f"{secret_conn}/v1/conversations/CN3/mark-as-read", status_code=400, json={"message": "bad"})
    cn4 = f"{secret_conn}/v1/conversations/CN4/mark-as-read"
    requests_mock.post(cn4, [{"status_code": 503}, {"json": {"id": "CN4"}}])
    op = MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2 CN3 CN4", fail_on_error=False)

    summary = execute(op)

    assert requests_mock.last_request.headers["Authorization"] == SECRET_KEY  # the key was in use
    assert summary["marked_count"] == 2
    assert SECRET_KEY not in repr(op)
    assert SECRET_KEY not in str(op)
    assert SECRET_KEY not in json.dumps(summary)
    assert any("retrying" in r.getMessage() for r in caplog.records)  # the retry path logged too
    assert_key_not_logged(caplog)


def test_api_key_never_in_auth_failure(requests_mock: Any, secret_conn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.post(ANY_MARK, status_code=401, json={"message": "Invalid API key", "title": "Unauthorized"})
    ti = mock.MagicMock()

    with pytest.raises(QuoAuthenticationError) as excinfo:
        MarkConversationReadOperator(task_id="t", conversation_ids="CN1 CN2").execute({"ti": ti})

    assert SECRET_KEY not in str(excinfo.value)
    assert SECRET_KEY not in repr(excinfo.value)
    assert SECRET_KEY not in json.dumps([c.kwargs for c in ti.xcom_push.call_args_list])
    assert_key_not_logged(caplog)


def test_on_kill_stops_taking_new_ids_and_fails_the_task(requests_mock: Any, quo_conn: str) -> None:
    """A killed task sends no further ids, never reports success, and accounts for what it sent."""
    operator = MarkConversationReadOperator(task_id="t", conversation_ids=[f"CN{n}" for n in range(50)])

    def kill_on_first_answer(request: Any, context: Any) -> dict[str, Any]:
        operator.on_kill()  # Airflow calls on_kill from its SIGTERM handler while the task runs
        return echo_conversation(request, context)

    requests_mock.post(re.compile(r"/mark-as-read$"), json=kill_on_first_answer)
    ti = mock.MagicMock()

    with pytest.raises(QuoBulkMarkError, match="Task killed"):
        operator.execute({"ti": ti})

    assert requests_mock.call_count == 1  # the first id goes alone; nothing is taken after the kill
    summary = ti.xcom_push.call_args.kwargs["value"]
    assert (summary["marked_count"], summary["not_attempted_count"]) == (1, 49)


def test_operator_can_be_deep_copied() -> None:
    """Airflow deep-copies operators (partial_subset, mapping); no lock may live on the instance."""
    import copy

    operator = MarkConversationReadOperator(task_id="t", conversation_ids=["CN1"])
    assert copy.deepcopy(operator).conversation_ids == ["CN1"]


def test_an_echoed_key_never_reaches_the_conversations_xcom(requests_mock: Any, secret_conn: str) -> None:
    echo = {"id": "CN1", "name": f"key {SECRET_KEY} echoed", "participants": ["+15550000000"]}
    requests_mock.post(f"{secret_conn}/v1/conversations/CN1/mark-as-read", json=echo)
    ti = mock.MagicMock()
    summary = MarkConversationReadOperator(task_id="t", conversation_ids="CN1", return_conversations=True).execute(
        {"ti": ti}
    )
    [pushed] = [c.kwargs["value"] for c in ti.xcom_push.call_args_list if c.kwargs["key"] == "conversations"]
    assert summary["marked"] == ["CN1"], "decided on the data: the id is the one sent"
    assert SECRET_KEY not in json.dumps(pushed)
    assert pushed[0]["participants"] == ["+15550000000"], "the rest of the data as sent"


def test_a_failed_task_stores_its_summary_where_a_success_does_unless_told_not_to(
    requests_mock: Any, quo_conn: str
) -> None:
    requests_mock.post(ANY_MARK, status_code=400, json={"message": "bad"})
    for do_xcom_push, stored in ((True, 1), (False, 0)):
        ti = mock.MagicMock()
        op = MarkConversationReadOperator(task_id="t", conversation_ids="CN1", do_xcom_push=do_xcom_push)
        with pytest.raises(QuoBulkMarkError) as excinfo:
            op.execute({"ti": ti})
        pushes = [c.kwargs for c in ti.xcom_push.call_args_list]
        assert pushes == [{"key": "return_value", "value": excinfo.value.summary}] * stored
