"""ListStaleConversationsOperator against requests-mock pages of GET /v1/conversations."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pendulum
import pytest

from airflow_provider_quo.exceptions import QuoAuthenticationError
from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
from tests.mark_echo import echo_conversation

END = datetime(2026, 11, 1, tzinfo=timezone.utc)
CUTOFF_30D = "2026-10-02T00:00:00.000Z"
OLD = "2026-09-01T08:00:00.000Z"


def conv(
    cid: str, last: str | None = OLD, created: str | None = "2026-01-01T00:00:00Z", **fields: Any
) -> dict[str, Any]:
    base = {"id": cid, "phoneNumberId": "PN1", "participants": [], "assignedTo": None, "name": None}
    dates = {"createdAt": created, "updatedAt": last, "lastActivityAt": last}
    return {**base, **dates, "deletedAt": None, "mutedUntil": None, "snoozedUntil": None, **fields}


PAGE_1 = [
    conv("CNrecent", last="2026-10-20T00:00:00Z"),
    conv("CNstale1"),
    conv("CNdeleted", deletedAt="2026-10-01T00:00:00Z"),
    conv("CNsnoozed", snoozedUntil="2026-12-01T00:00:00Z"),
    conv("CNstale2", last=None, created="2026-08-01T00:00:00Z"),
]
PAGE_2 = [
    conv("CNstale3", last="2026-10-01T23:59:59.999+00:00"),
    conv("CNmuted", mutedUntil="2027-01-01T00:00:00Z"),
    conv("CNnoactivity", last=None, created=None),
]
DEFAULT_SELECTION = ["CNstale1", "CNstale2", "CNstale3", "CNmuted"]


def context(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"ti": mock.MagicMock(), "data_interval_end": END, "logical_date": END - timedelta(days=1)}
    ctx["dag_run"] = SimpleNamespace(run_after=END + timedelta(hours=1))
    ctx.update(overrides)
    return ctx


def serve_pages(requests_mock: Any, base: str, *pages: list[dict[str, Any]]) -> None:
    """Serve ``pages`` by pageToken: page n carries token ``tok<n>`` to the next one."""

    def respond(request: Any, ctx: Any) -> dict[str, Any]:
        token = query(request).get("pageToken", ["tok0"])[0]
        n = int(token[3:])
        more = n + 1 < len(pages)
        return {"data": pages[n], "totalItems": 999, "nextPageToken": f"tok{n + 1}" if more else None}

    requests_mock.get(f"{base}/v1/conversations", json=respond)


def query(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


def run(ctx: dict[str, Any] | None = None, **kwargs: Any) -> tuple[list[str], dict[str, Any], Any]:
    ctx = ctx or context()
    kwargs.setdefault("older_than", 30)
    ids = ListStaleConversationsOperator(task_id="list_stale", **kwargs).execute(ctx)
    [summary] = [c.kwargs["value"] for c in ctx["ti"].xcom_push.call_args_list if c.kwargs.get("key") == "summary"]
    return ids, summary, ctx["ti"]


@pytest.fixture
def two_pages(requests_mock: Any, quo_conn: str) -> Any:
    serve_pages(requests_mock, quo_conn, PAGE_1, PAGE_2)
    return requests_mock


def test_selects_stale_and_pushes_a_summary_with_skip_counts(two_pages: Any) -> None:
    ids, summary, _ = run()

    assert ids == DEFAULT_SELECTION
    assert two_pages.call_count == 2
    assert query(two_pages.request_history[1])["pageToken"] == ["tok1"]
    assert summary == {
        "cutoff": "2026-10-02T00:00:00+00:00",
        "window": {"from": None, "to": "2026-11-01T00:00:00+00:00"},
        "ranges": [{"from": None, "from_id": None, "to": "2026-11-01T00:00:00+00:00", "to_id": None}],
        "watermark_origin": "not incremental (marked_by is not set): full sweep up to 2026-11-01 00:00 UTC",
        "full_sweep": True,
        "scanned": 8,
        "in_window": 4,
        "selected": 4,
        "selected_idle": 4,
        "selected_snooze_ended": 0,
        "selected_mute_ended": 0,
        "limit_reached": False,
        "covered": [{"from": None, "from_id": None, "to": "2026-11-01T00:00:00+00:00", "to_id": None}],
        "skipped_deleted": 1,
        "skipped_no_activity": 1,
        "skipped_recent": 1,
        "skipped_snoozed": 1,
    }
    json.dumps(summary)


def test_query_sends_created_before_the_cutoff_only(two_pages: Any) -> None:
    run()
    first = query(two_pages.request_history[0])
    assert first == {"maxResults": ["100"], "createdBefore": [CUTOFF_30D]}


def test_updated_before_only_when_asked(two_pages: Any) -> None:
    run(updated_before_cutoff=True)
    first = query(two_pages.request_history[0])
    assert first["updatedBefore"] == [CUTOFF_30D]
    assert first["createdBefore"] == [CUTOFF_30D]


@pytest.mark.parametrize(
    "phone_numbers", ["PN123, +15551234567", '["PN123", "+15551234567"]', ["PN123", "+15551234567"]]
)
def test_phone_numbers_are_repeated_keys(two_pages: Any, phone_numbers: Any) -> None:
    run(phone_numbers=phone_numbers, user_id="US42")
    request = two_pages.request_history[0]
    assert query(request)["phoneNumbers"] == ["PN123", "+15551234567"]
    assert query(request)["userId"] == ["US42"]
    assert "phoneNumbers=%2B15551234567" in urlsplit(request.url).query


@pytest.mark.parametrize(("phone_numbers", "user_id"), [(None, None), ("", ""), ("[]", None)])
def test_empty_filters_are_not_sent(two_pages: Any, phone_numbers: Any, user_id: Any) -> None:
    run(phone_numbers=phone_numbers, user_id=user_id)
    sent = query(two_pages.request_history[0])
    assert "phoneNumbers" not in sent
    assert "userId" not in sent


def test_uses_the_run_time_not_the_wall_clock(requests_mock: Any, quo_conn: str) -> None:
    end = datetime(2020, 1, 1, tzinfo=timezone.utc)
    page = [
        conv("CNold", last="2019-11-01T00:00:00Z", created="2019-01-01T00:00:00Z"),
        conv("CNafter_run", last="2020-06-01T00:00:00Z", created="2019-01-01T00:00:00Z"),
    ]
    serve_pages(requests_mock, quo_conn, page)

    first, _, _ = run(context(data_interval_end=end))
    second, _, _ = run(context(data_interval_end=end))

    assert first == second == ["CNold"]  # CNafter_run would be stale by today's wall clock
    sent = [query(r)["createdBefore"] for r in requests_mock.request_history]
    assert sent == [["2019-12-02T00:00:00.000Z"]] * 2


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"data_interval_end": datetime(2026, 11, 1, 2, tzinfo=timezone(timedelta(hours=2)))},
            CUTOFF_30D,
            id="offset",
        ),
        pytest.param({"data_interval_end": None}, "2026-10-01T00:00:00.000Z", id="logical-date"),
        pytest.param({"data_interval_end": None, "logical_date": None}, "2026-10-02T01:00:00.000Z", id="run-after"),
    ],
)
def test_reference_time_fallbacks(two_pages: Any, overrides: dict[str, Any], expected: str) -> None:
    run(context(**overrides))
    assert query(two_pages.request_history[0])["createdBefore"] == [expected]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York"])
def test_pendulum_run_times_as_airflow_passes_them(two_pages: Any, tz: str) -> None:
    end = pendulum.instance(END).in_timezone(tz)
    ids, summary, _ = run(context(data_interval_end=end))
    assert query(two_pages.request_history[0])["createdBefore"] == [CUTOFF_30D]
    assert summary["cutoff"] == "2026-10-02T00:00:00+00:00"
    assert ids == DEFAULT_SELECTION


def test_no_reference_time_fails_before_any_request(two_pages: Any) -> None:
    ctx = {"ti": mock.MagicMock(), "data_interval_end": None, "logical_date": None, "dag_run": None}
    with pytest.raises(ValueError, match="data_interval_end"):
        ListStaleConversationsOperator(task_id="t", older_than=30).execute(ctx)
    assert two_pages.call_count == 0


@pytest.mark.parametrize("older_than", [30, "30", " 30 ", "P30D", "p30d", timedelta(days=30), "P4W2D", "PT720H"])
def test_older_than_forms(two_pages: Any, older_than: Any) -> None:
    ids, summary, _ = run(older_than=older_than)
    assert query(two_pages.request_history[0])["createdBefore"] == [CUTOFF_30D]
    assert ids == DEFAULT_SELECTION
    assert summary["cutoff"] == "2026-10-02T00:00:00+00:00"


def test_older_than_from_a_rendered_template(two_pages: Any) -> None:
    op = ListStaleConversationsOperator(task_id="t", older_than="{{ params.age }}")
    op.render_template_fields({"params": {"age": "PT36H"}})
    op.execute(context())
    assert query(two_pages.request_history[0])["createdBefore"] == ["2026-10-30T12:00:00.000Z"]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"older_than": "P1M"}, "older_than"),
        ({"older_than": "P1Y"}, "older_than"),
        ({"older_than": "abc"}, "older_than"),
        ({"older_than": ""}, "older_than"),
        ({"older_than": "0"}, "older_than"),
        ({"older_than": -3}, "older_than"),
        ({"older_than": None}, "older_than"),
        ({"older_than": 30, "limit": "0"}, "limit"),
        ({"older_than": 30, "include_muted": "perhaps"}, "include_muted"),
        ({"older_than": 30, "phone_numbers": "[oops"}, "phone_numbers"),
    ],
)
def test_invalid_arguments_fail_before_any_request(two_pages: Any, kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        ListStaleConversationsOperator(task_id="t", **kwargs).execute(context())
    assert two_pages.call_count == 0


def test_limit_keeps_those_stale_first_and_carries_the_rest(two_pages: Any) -> None:
    ids, summary, _ = run(limit=2)
    # CNstale2 idle since August (createdAt), then the two idle since OLD, ties broken by id.
    assert ids == ["CNstale2", "CNmuted"]
    assert two_pages.call_count == 2, "the earliest-stale can be on any page: every page is read"
    assert summary["limit_reached"] is True
    assert (summary["selected"], summary["in_window"], summary["scanned"]) == (2, 4, 8)
    # What the run covers stops at the last one kept: CNmuted, stale since OLD + 30 days + 1 µs; CNstale1,
    # stale at the same instant with a later id, is left to the next run.
    assert summary["covered"] == [
        {"from": None, "from_id": None, "to": "2026-10-01T08:00:00.000001+00:00", "to_id": "CNmuted"}
    ]


def test_templated_limit_reaching_into_the_second_page(two_pages: Any) -> None:
    ids, summary, _ = run(limit="3")
    assert ids == ["CNstale2", "CNmuted", "CNstale1"]
    assert summary["limit_reached"] is True
    assert summary["covered"][-1]["to_id"] == "CNstale1", "the last kept"


def test_limit_above_the_selection_is_not_reached(two_pages: Any) -> None:
    ids, summary, _ = run(limit="None")
    assert ids == DEFAULT_SELECTION
    assert summary["limit_reached"] is False
    ids, summary, _ = run(limit=10)
    assert summary["limit_reached"] is False


def test_include_flags_from_rendered_strings(two_pages: Any) -> None:
    ids, summary, _ = run(include_deleted="True", include_snoozed="true", include_muted="False")
    assert ids == ["CNstale1", "CNdeleted", "CNsnoozed", "CNstale2", "CNstale3"]
    assert summary["skipped_muted"] == 1
    assert "skipped_deleted" not in summary
    assert "skipped_snoozed" not in summary


def test_result_feeds_the_mark_operator(two_pages: Any, quo_conn: str) -> None:
    two_pages.post(re.compile(r"/v1/conversations/CN\w+/mark-as-read$"), json=echo_conversation)
    ids, _, _ = run()

    for value in (ids, json.dumps(ids), str(ids)):  # the XComArg, tojson, and a plain Jinja render
        op = MarkConversationReadOperator(task_id="mark", conversation_ids=value, dry_run=True)
        assert op.execute({"ti": mock.MagicMock()})["would_mark"] == ids
    summary = MarkConversationReadOperator(task_id="mark", conversation_ids=ids).execute({"ti": mock.MagicMock()})
    assert sorted(summary["marked"]) == sorted(ids)


def test_nothing_stale_gives_an_empty_list(requests_mock: Any, quo_conn: str) -> None:
    serve_pages(requests_mock, quo_conn, [conv("CNrecent", last="2026-10-31T00:00:00Z")], [])
    ids, summary, _ = run()
    assert ids == []
    assert {key: summary[key] for key in ("scanned", "selected", "limit_reached", "skipped_recent")} == {
        "scanned": 1,
        "selected": 0,
        "limit_reached": False,
        "skipped_recent": 1,
    }
    assert [key for key in summary if key.startswith("skipped_")] == ["skipped_recent"]


def test_auth_error_while_listing_propagates(requests_mock: Any, quo_conn: str) -> None:
    requests_mock.get(f"{quo_conn}/v1/conversations", status_code=401, json={"message": "bad key"})
    with pytest.raises(QuoAuthenticationError, match="check the API key"):
        ListStaleConversationsOperator(task_id="t", older_than=30).execute(context())
    assert requests_mock.call_count == 1


def test_template_fields() -> None:
    fields = set(ListStaleConversationsOperator.template_fields)
    assert {"older_than", "phone_numbers", "user_id", "limit", "quo_conn_id", "include_muted"} <= fields
