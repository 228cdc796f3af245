"""ListStaleConversationsOperator's incremental window: the watermark it reads, the record it writes, odd listings."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from tests.unit.operators.test_operator_list_stale import END, PAGE_1, PAGE_2, context, conv, query, serve_pages

WATERMARK = "2026-10-31T00:00:00+00:00"
#: The selection settings of ``run()``'s operator (30 days, every number and user, default exclusions).
SELECTION = {
    "older_than_seconds": 30 * 86400.0,
    "phone_numbers": [],
    "user_id": None,
    "include_deleted": False,
    "include_snoozed": False,
    "include_muted": True,
    "updated_before_cutoff": False,
}
RECORD = {
    "from": "2026-10-30T00:00:00+00:00",
    "from_id": None,
    "to": WATERMARK,
    "next_watermark": WATERMARK,
    "next_watermark_id": None,
    "selection": SELECTION,
    "run_id": "day30",
}
CLEAN = {"dry_run": False, "failed_count": 0, "not_attempted_count": 0, "requested": 1, "failed": {}}
# Idle for 30 days since 2026-10-01T12:00Z: stale since 2026-10-31T12:00Z, inside (WATERMARK, END].
CROSSED_TODAY = conv("CNcrossed", last="2026-10-01T12:00:00Z")


def history(record: Any = RECORD, outcome: Any = CLEAN) -> mock.MagicMock:
    """A task instance whose XCom history holds an earlier run's window ``record`` and marking ``outcome``."""
    ti = mock.MagicMock()

    def pull(task_ids: str, key: str = "return_value", **kwargs: Any) -> Any:
        if key == "window":
            return record
        return outcome if key == "summary" and kwargs.get("run_id") == "day30" else None

    ti.xcom_pull.side_effect = pull
    return ti


def run(ti: mock.MagicMock, **kwargs: Any) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    kwargs.setdefault("marked_by", "mark_read")
    ids = ListStaleConversationsOperator(task_id="list_stale", older_than=30, **kwargs).execute(
        context(ti=ti, run_id="day31")
    )
    pushed = {c.kwargs["key"]: c.kwargs["value"] for c in ti.xcom_push.call_args_list}
    return ids, pushed["summary"], pushed["window"]


@pytest.fixture
def pages(requests_mock: Any, quo_conn: str) -> Any:
    serve_pages(requests_mock, quo_conn, [*PAGE_1, CROSSED_TODAY], PAGE_2)
    return requests_mock


def test_an_incremental_run_selects_only_what_became_stale_since_the_watermark(pages: Any) -> None:
    ti = history()
    ids, summary, record = run(ti)

    assert ids == ["CNcrossed", "CNstale3"], "CNstale3 was idle 30 days at 2026-10-31T23:59:59.999Z"
    assert summary["window"] == {"from": WATERMARK, "to": END.isoformat()}
    assert summary["watermark_origin"] == "committed by run day30"
    assert (summary["full_sweep"], summary["in_window"], summary["selected_idle"]) == (False, 2, 2)
    assert summary["skipped_before_window"] == 3, "stale at the watermark already: an earlier run took them"
    assert record == RECORD | {
        "from": WATERMARK,
        "to": END.isoformat(),
        "next_watermark": END.isoformat(),
        "run_id": "day31",
    }
    window_pull, outcome_pull = ti.xcom_pull.call_args_list  # one pull of the marking's summary, success or not
    assert window_pull.kwargs == {"task_ids": "list_stale", "key": "window", "include_prior_dates": True} | {
        "map_indexes": -1
    }
    assert outcome_pull.kwargs == {"task_ids": "mark_read", "key": "summary", "run_id": "day30", "map_indexes": -1}


def test_after_a_failed_marking_the_window_starts_where_that_run_started(pages: Any) -> None:
    ti = history(outcome=None)
    ids, summary, record = run(ti)
    assert ti.xcom_pull.call_args_list[-1].kwargs == {
        "task_ids": "mark_read",
        "key": "summary",
        "run_id": "day30",
        "map_indexes": -1,
    }, "a marking task pushes its summary under 'summary' whether it fails or not"
    assert summary["window"]["from"] == RECORD["from"]
    assert "kept" in summary["watermark_origin"]
    assert record["from"] == RECORD["from"], "a second failure keeps the same start again"
    assert ids == ["CNcrossed", "CNstale3"]


@pytest.mark.parametrize("full_sweep", [True, "true", "True"])
def test_a_full_sweep_ignores_the_watermark(pages: Any, full_sweep: Any) -> None:
    ti = history()
    ids, summary, record = run(ti, full_sweep=full_sweep)
    assert ids == ["CNstale1", "CNstale2", "CNcrossed", "CNstale3", "CNmuted"]
    assert (summary["window"]["from"], summary["full_sweep"], record["from"]) == (None, True, None)
    ti.xcom_pull.assert_not_called()


def test_a_watermark_past_the_run_time_gives_an_empty_window(pages: Any) -> None:
    later = {**RECORD, "next_watermark": "2026-12-01T00:00:00+00:00"}
    ids, summary, record = run(history(record=later))
    assert ids == []
    assert summary["window"] == {"from": END.isoformat(), "to": END.isoformat()}
    assert record["next_watermark"] == END.isoformat(), "never beyond the run time; never backwards past it"


def test_updated_after_is_sent_only_when_asked_and_only_with_a_watermark(pages: Any) -> None:
    run(history(), updated_after_window=True)
    # watermark - 30 days, one tick earlier in case Quo's bound is exclusive (sent in milliseconds)
    assert query(pages.request_history[0])["updatedAfter"] == ["2026-09-30T23:59:59.999Z"]
    run(history())
    assert "updatedAfter" not in query(pages.request_history[-1])
    run(history(record=None), updated_after_window=True)
    assert "updatedAfter" not in query(pages.request_history[-1]), "a first run must see everything"


def test_odd_items_in_a_listing_are_skipped_and_counted_and_the_rest_is_kept(requests_mock: Any, quo_conn: str) -> None:
    odd = ["CNstring", 7, None, {"name": "no id"}, {"id": 12}, [], conv("CN has space"), conv("CN1\u2028")]
    serve_pages(requests_mock, quo_conn, [conv("CNgood1"), *odd, conv("CNgood2")])
    ti = mock.MagicMock()
    ids, summary, _ = run(ti, marked_by=None)

    assert ids == ["CNgood1", "CNgood2"]
    assert (summary["skipped_malformed"], summary["skipped_invalid_id"]) == (6, 2)
    assert summary["scanned"] == 10


def test_invalid_listed_ids_are_named_in_the_log(requests_mock: Any, quo_conn: str, caplog: Any) -> None:
    serve_pages(requests_mock, quo_conn, [conv("CN has space"), conv("CNfine")])
    operator = ListStaleConversationsOperator(task_id="list_stale", older_than=30)
    with mock.patch.object(type(operator), "log", new_callable=mock.PropertyMock) as log:
        ids = operator.execute(context())
    assert ids == ["CNfine"]
    (message, *args), _ = log.return_value.warning.call_args
    assert message % tuple(args) == (
        "Skipping listed id 'CN has space': contains whitespace or control characters (U+0020, a space, at index 2)"
    )


def test_a_failed_marking_whose_only_failures_are_403s_commits(pages: Any) -> None:
    reason = "Quo API 403 Not Phone Number User: not yours"
    detail = {"kind": "403", "status": 403, "retryable": False}
    forbidden = CLEAN | {"failed_count": 1, "failed": {"CNx": reason}, "failed_detail": {"CNx": detail}}
    ti = history(outcome=None)
    pulls = ti.xcom_pull.side_effect

    def pull(task_ids: str, key: str = "return_value", **kwargs: Any) -> Any:
        return forbidden if key == "summary" else pulls(task_ids, key, **kwargs)

    ti.xcom_pull.side_effect = pull
    _, summary, _ = run(ti)
    assert summary["window"]["from"] == WATERMARK
    assert summary["watermark_origin"] == "committed by run day30"


def test_other_selection_settings_than_the_last_run_mean_a_full_sweep(pages: Any) -> None:
    ti = history()
    ListStaleConversationsOperator(task_id="list_stale", older_than="P60D", marked_by="mark_read").execute(
        context(ti=ti, run_id="day31")
    )
    pushed = {c.kwargs["key"]: c.kwargs["value"] for c in ti.xcom_push.call_args_list}
    summary, record = pushed["summary"], pushed["window"]
    assert summary["window"]["from"] is None
    assert "other settings" in summary["watermark_origin"]
    assert record["selection"]["older_than_seconds"] == 60 * 86400.0


def test_marked_by_must_name_an_unmapped_task_of_the_dag() -> None:
    from airflow.sdk import DAG

    from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator

    with DAG("marked_by_check", schedule=None):
        typo = ListStaleConversationsOperator(task_id="list", older_than=30, marked_by="mark_raed")
        MarkConversationReadOperator.partial(task_id="mapped").expand(conversation_ids=[["CN1"]])
        mapped = ListStaleConversationsOperator(task_id="list2", older_than=30, marked_by="mapped")
    with pytest.raises(ValueError, match="'mark_raed' is not a task of DAG 'marked_by_check'"):
        typo.execute(context(ti=history(), run_id="r"))
    with pytest.raises(ValueError, match="'mapped' is a mapped task"):
        mapped.execute(context(ti=history(), run_id="r"))
