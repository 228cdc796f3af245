"""ListStaleConversationsOperator's incremental window: the Variable it reads and writes, other runs' claims
resolved by run id, its log lines, odd listings."""

from __future__ import annotations

import json
from typing import Any, ClassVar
from unittest import mock

import pytest

from airflow_provider_quo.exceptions import QuoPermissionError
from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.watermark import variable as watermark_variable
from tests.unit.operators.test_operator_list_stale import END, PAGE_1, PAGE_2, context, conv, query, serve_pages

WATERMARK = "2026-10-31T00:00:00+00:00"
BEFORE = "2026-10-30T00:00:00+00:00"
KEY = "quo_watermark__adhoc_airflow__list_stale"
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
CLEAN = {"dry_run": False, "failed_count": 0, "not_attempted_count": 0, "requested": 1, "failed": {}}
# Idle for 30 days since 2026-10-01T12:00Z: stale since 2026-10-31T12:00Z, inside (WATERMARK, END].
CROSSED_TODAY = conv("CNcrossed", last="2026-10-01T12:00:00Z")


def bound(at: str | None) -> dict[str, Any] | None:
    return None if at is None else {"at": at, "id": None}


def stored(watermark: str | None = BEFORE, claim_from: str | None = BEFORE, selection: Any = SELECTION) -> str:
    """The Variable after run ``day30`` claimed ``(claim_from, WATERMARK]`` on a state at ``watermark``."""
    claim = {"run_id": "day30", "from": bound(claim_from), "to": bound(WATERMARK), "done": False}
    state = {"version": 1, "selection": selection, "watermark": bound(watermark), "committed_by": "day29"}
    return json.dumps(state | {"claims": [claim]})


class FakeVariable:
    """``airflow.sdk.Variable`` over a dict."""

    values: ClassVar[dict[str, str]] = {}

    @classmethod
    def get(cls, key: str, default: Any = None) -> Any:
        return cls.values.get(key, default)

    @classmethod
    def set(cls, key: str, value: str, description: str | None = None) -> None:
        cls.values[key] = value


@pytest.fixture(autouse=True)
def variables(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    FakeVariable.values = {}
    monkeypatch.setattr(watermark_variable, "_variable", lambda: FakeVariable)
    return FakeVariable.values


def history(summary: Any = CLEAN, run_state: str = "success") -> mock.MagicMock:
    """A task instance for which run ``day30``'s marking left ``summary`` (XCom ``summary``) and ended ``run_state``."""
    ti = mock.MagicMock()
    left = {("day30", "return_value"): summary}
    ti.xcom_pull.side_effect = lambda task_ids, key="return_value", run_id=None, **kw: left.get((run_id, key))
    ti.get_dagrun_state.side_effect = lambda dag_id, run_id: run_state if run_id == "day30" else "running"
    return ti


def run(ti: mock.MagicMock, run_id: str = "day31", **kwargs: Any) -> tuple[list[str], dict[str, Any]]:
    kwargs.setdefault("marked_by", "mark_read")
    ids = ListStaleConversationsOperator(task_id="list_stale", older_than=30, **kwargs).execute(
        context(ti=ti, run_id=run_id)
    )
    pushed = {c.kwargs["key"]: c.kwargs["value"] for c in ti.xcom_push.call_args_list}
    return ids, pushed["summary"]


def state_in(variables: dict[str, str]) -> dict[str, Any]:
    return json.loads(variables[KEY])  # type: ignore[no-any-return]


@pytest.fixture
def pages(requests_mock: Any, quo_conn: str) -> Any:
    serve_pages(requests_mock, quo_conn, [*PAGE_1, CROSSED_TODAY], PAGE_2)
    return requests_mock


def test_a_first_run_sweeps_in_full_and_claims_up_to_its_time(pages: Any, variables: dict[str, str]) -> None:
    ids, summary = run(history())
    assert ids == ["CNstale1", "CNstale2", "CNcrossed", "CNstale3", "CNmuted"]
    assert summary["watermark_origin"] == "first run: full sweep up to 2026-11-01 00:00 UTC"
    assert state_in(variables)["claims"] == [
        {"run_id": "day31", "from": None, "to": bound(END.isoformat()), "done": False}
    ]


def test_an_incremental_run_starts_where_the_last_good_run_ended(pages: Any, variables: dict[str, str]) -> None:
    variables[KEY] = stored()
    ti = history()
    ids, summary = run(ti)

    assert ids == ["CNcrossed", "CNstale3"], "CNstale3 was idle 30 days at 2026-10-31T23:59:59.999Z"
    assert ti.xcom_pull.call_args_list[0].kwargs == {
        "task_ids": "mark_read",
        "key": "return_value",
        "run_id": "day30",
        "map_indexes": -1,
    }
    assert summary["window"] == {"from": WATERMARK, "to": END.isoformat()}
    assert summary["watermark_origin"] == (
        "since 2026-10-31 00:00 UTC, up to 2026-11-01 00:00 UTC; committed by run day30"
    )
    assert (summary["full_sweep"], summary["in_window"], summary["selected_idle"]) == (False, 2, 2)
    assert summary["skipped_before_window"] == 3, "stale at the watermark already: an earlier run took them"
    after = state_in(variables)
    assert (after["watermark"], after["committed_by"]) == (bound(WATERMARK), "day30")
    assert after["claims"] == [
        {"run_id": "day31", "from": bound(WATERMARK), "to": bound(END.isoformat()), "done": False}
    ]


@pytest.mark.parametrize("summary", [None, CLEAN | {"dry_run": True}, CLEAN | {"failed": {"CN9": "500"}}])
def test_a_run_that_ended_without_marking_everything_is_selected_again(
    pages: Any, variables: dict[str, str], summary: Any
) -> None:
    variables[KEY] = stored()
    ids, result = run(history(summary, run_state="failed"))
    assert result["window"]["from"] == BEFORE, "day30's range is this run's again"
    assert "again what run(s) day30 left unmarked" in result["watermark_origin"]
    assert ids == ["CNcrossed", "CNstale3"]
    assert [c["run_id"] for c in state_in(variables)["claims"]] == ["day31"], "day30's claim is dropped"


def test_a_run_still_going_keeps_its_range(pages: Any, variables: dict[str, str]) -> None:
    variables[KEY] = stored(claim_from=BEFORE, watermark=BEFORE)
    _, summary = run(history(None, run_state="running"))
    assert summary["ranges"] == [{"from": WATERMARK, "from_id": None, "to": END.isoformat(), "to_id": None}]
    assert "less what run(s) day30 claimed" in summary["watermark_origin"]
    assert [c["run_id"] for c in state_in(variables)["claims"]] == ["day30", "day31"]


def test_a_retry_selects_what_its_first_try_claimed(pages: Any, variables: dict[str, str]) -> None:
    variables[KEY] = stored()
    ids, summary = run(history(None, run_state="running"), run_id="day30")
    assert summary["ranges"] == [{"from": BEFORE, "from_id": None, "to": WATERMARK, "to_id": None}]
    assert summary["watermark_origin"].startswith("again the range this run claimed before")
    assert ids == [], "CNcrossed and CNstale3 became stale after its claim's end: they are the next run's"
    assert state_in(variables)["claims"] == json.loads(stored())["claims"]


def test_a_marking_whose_only_failures_are_403s_commits(pages: Any, variables: dict[str, str]) -> None:
    variables[KEY] = stored()
    error = QuoPermissionError(status=403, title="Not Phone Number User", message="not yours")
    forbidden = CLEAN | {
        "failed_count": 1,
        "failed": {"CNx": str(error)},
        "failed_detail": {"CNx": {"kind": "403", "status": 403}},
    }
    _, summary = run(history(forbidden, run_state="failed"))
    assert summary["window"]["from"] == WATERMARK
    assert "committed by run day30" in summary["watermark_origin"]


@pytest.mark.parametrize("full_sweep", [True, "true", "True"])
def test_a_full_sweep_ignores_the_watermark_and_still_claims(
    pages: Any, variables: dict[str, str], full_sweep: Any
) -> None:
    variables[KEY] = stored()
    ids, summary = run(history(), full_sweep=full_sweep)
    assert ids == ["CNstale1", "CNstale2", "CNcrossed", "CNstale3", "CNmuted"]
    assert (summary["window"]["from"], summary["full_sweep"]) == (None, True)
    assert summary["watermark_origin"] == "full sweep requested, up to 2026-11-01 00:00 UTC"
    assert state_in(variables)["claims"][-1]["from"] is None


def test_a_watermark_at_or_past_the_run_time_lists_nothing(pages: Any, variables: dict[str, str]) -> None:
    later = json.loads(stored(watermark="2026-12-01T00:00:00+00:00"))
    variables[KEY] = json.dumps(later | {"claims": []})
    ids, summary = run(history())
    assert (ids, summary["ranges"], pages.call_count) == ([], [], 0), "an empty window costs no request"
    assert summary["watermark_origin"].startswith("nothing new: the watermark 2026-12-01 00:00 UTC")
    assert state_in(variables)["watermark"] == bound("2026-12-01T00:00:00+00:00"), "never backwards"


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        (stored(selection=SELECTION | {"older_than_seconds": 60 * 86400.0}), "selection settings changed (older_than"),
        ("{not json", "unreadable state"),
        (json.dumps({"version": 7}), "unreadable state (not a version 1 watermark state"),
    ],
)
def test_a_state_for_other_settings_or_unreadable_means_a_full_sweep_and_a_fresh_state(
    pages: Any, variables: dict[str, str], value: str, origin: str
) -> None:
    variables[KEY] = value
    ids, summary = run(history())
    assert summary["full_sweep"]
    assert summary["watermark_origin"].startswith(origin)
    assert len(ids) == 5
    assert state_in(variables)["selection"] == SELECTION


def test_the_log_has_short_lines_for_the_window_the_watermark_and_the_selection(
    pages: Any, variables: dict[str, str]
) -> None:
    variables[KEY] = stored()
    operator = ListStaleConversationsOperator(task_id="list_stale", older_than=30, marked_by="mark_read")
    with mock.patch.object(type(operator), "log", new_callable=mock.PropertyMock) as log:
        operator.execute(context(ti=history(), run_id="day31"))
    lines = [call.args[0] % call.args[1:] for call in log.return_value.info.call_args_list]
    assert lines == [
        "Window: since 2026-10-31 00:00 UTC, up to 2026-11-01 00:00 UTC",
        "Window: committed by run day30",
        f"Watermark: Airflow Variable {KEY}",
        "Selection: selected 2 of 9 listed; skipped: 3 before window, 1 deleted, 1 no activity, 1 recent, 1 snoozed",
    ]


def test_the_listing_runs_one_instance_across_runs_unless_told_otherwise() -> None:
    """Airflow's own ``max_active_tis_per_dag``: one listing at a time, so each reads what the others claimed."""
    assert ListStaleConversationsOperator(task_id="a", older_than=30).max_active_tis_per_dag == 1
    assert (
        ListStaleConversationsOperator(task_id="b", older_than=30, max_active_tis_per_dag=None).max_active_tis_per_dag
        is None
    )
    from airflow.sdk import DAG

    with DAG("own_defaults", schedule=None, default_args={"max_active_tis_per_dag": 2}):
        assert ListStaleConversationsOperator(task_id="c", older_than=30).max_active_tis_per_dag == 2


def test_updated_after_is_sent_only_when_asked_and_only_with_a_watermark(pages: Any, variables: dict[str, str]) -> None:
    variables[KEY] = stored()
    run(history(), updated_after_window=True)
    # watermark - 30 days, one tick earlier in case Quo's bound is exclusive (sent in milliseconds)
    assert query(pages.request_history[0])["updatedAfter"] == ["2026-09-30T23:59:59.999Z"]
    variables[KEY] = stored()
    run(history())
    assert "updatedAfter" not in query(pages.request_history[-1])
    variables.clear()
    run(history(), updated_after_window=True)
    assert "updatedAfter" not in query(pages.request_history[-1]), "a first run must see everything"


def test_odd_items_in_a_listing_are_skipped_and_counted_and_the_rest_is_kept(requests_mock: Any, quo_conn: str) -> None:
    odd = ["CNstring", 7, None, {"name": "no id"}, {"id": 12}, [], conv("CN has space"), conv("CN1\u2028")]
    serve_pages(requests_mock, quo_conn, [conv("CNgood1"), *odd, conv("CNgood2")])
    ids, summary = run(mock.MagicMock(), marked_by=None)

    assert ids == ["CNgood1", "CNgood2"]
    assert (summary["skipped_malformed"], summary["skipped_invalid_id"]) == (6, 2)
    assert summary["scanned"] == 10


def test_invalid_listed_ids_are_named_in_the_log(requests_mock: Any, quo_conn: str) -> None:
    serve_pages(requests_mock, quo_conn, [conv("CN has space"), conv("CNfine")])
    operator = ListStaleConversationsOperator(task_id="list_stale", older_than=30)
    with mock.patch.object(type(operator), "log", new_callable=mock.PropertyMock) as log:
        ids = operator.execute(context())
    assert ids == ["CNfine"]
    (message, *args), _ = log.return_value.warning.call_args
    assert message % tuple(args) == (
        "Skipping listed id 'CN has space': contains whitespace or control characters (U+0020, a space, at index 2)"
    )


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
