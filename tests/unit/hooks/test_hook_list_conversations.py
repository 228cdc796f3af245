"""QuoHook.iter_conversations: paging by nextPageToken, loop guard, max_pages, filters on the wire."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_quo.exceptions import QuoError, QuoServerError
from airflow_provider_quo.hooks.quo import QuoHook


@pytest.fixture
def list_url(quo_conn: str) -> str:
    return f"{quo_conn}/v1/conversations"


def page(ids: list[str], token: str | None, total: int = 999) -> dict[str, object]:
    return {"json": {"data": [{"id": i} for i in ids], "totalItems": total, "nextPageToken": token}}


def query(request) -> list[tuple[str, str]]:
    """The query pairs as sent (requests-mock's own .qs lower-cases values)."""
    return parse_qsl(urlsplit(request.url).query, keep_blank_values=True)


def test_follows_next_page_token_until_null(hook, list_url, requests_mock):
    requests_mock.get(
        list_url, [page(["CN1", "CN2"], "tokA"), page(["CN3"], "tokB"), page(["CN4", "CN5"], None, total=0)]
    )

    ids = [c["id"] for c in hook.iter_conversations(page_size=2)]

    assert ids == ["CN1", "CN2", "CN3", "CN4", "CN5"]
    sent = [query(r) for r in requests_mock.request_history]
    assert sent == [
        [("maxResults", "2")],
        [("maxResults", "2"), ("pageToken", "tokA")],
        [("maxResults", "2"), ("pageToken", "tokB")],
    ]
    assert all(r.method == "GET" for r in requests_mock.request_history)
    assert all(urlsplit(r.url).path == "/v1/conversations" for r in requests_mock.request_history)


def test_filters_kept_on_every_page(hook, list_url, requests_mock):
    requests_mock.get(list_url, [page(["CN1"], "t1"), page(["CN2"], None)])
    list(hook.iter_conversations(phone_numbers=["PN1"], user_id="US1", exclude_inactive=True))
    second = query(requests_mock.request_history[1])
    assert second == [
        ("maxResults", "100"),
        ("phoneNumbers", "PN1"),
        ("userId", "US1"),
        ("excludeInactive", "true"),
        ("pageToken", "t1"),
    ]


def test_is_lazy(hook, list_url, requests_mock):
    requests_mock.get(list_url, [page(["CN1", "CN2"], "t1"), page(["CN3"], None)])
    iterator = hook.iter_conversations()
    assert requests_mock.call_count == 0
    assert next(iterator)["id"] == "CN1"
    assert next(iterator)["id"] == "CN2"
    assert requests_mock.call_count == 1


def test_empty_pages_are_skipped_not_the_end(hook, list_url, requests_mock):
    requests_mock.get(
        list_url,
        [
            page([], "t1"),
            page([], "t2"),
            page([], "t3"),
            page(["CN9"], None),
        ],
    )
    assert [c["id"] for c in hook.iter_conversations()] == ["CN9"]
    assert requests_mock.call_count == 4


@pytest.mark.parametrize("last_token", [None, ""])
def test_total_items_is_ignored(hook, list_url, requests_mock, last_token):
    requests_mock.get(list_url, [page(["CN1"], "t1", total=1), page(["CN2"], last_token, total=500)])
    assert [c["id"] for c in hook.iter_conversations()] == ["CN1", "CN2"]
    assert requests_mock.call_count == 2


def test_empty_listing(hook, list_url, requests_mock):
    requests_mock.get(list_url, json={"data": [], "totalItems": 0, "nextPageToken": None})
    assert list(hook.iter_conversations()) == []
    assert requests_mock.call_count == 1


def test_repeated_token_stops_with_quo_error(hook, list_url, requests_mock):
    requests_mock.get(list_url, [page(["CN1"], "A"), page(["CN2"], "B"), page(["CN3"], "A"), page(["CN4"], None)])
    iterator = hook.iter_conversations()
    assert [next(iterator)["id"] for _ in range(3)] == ["CN1", "CN2", "CN3"]
    with pytest.raises(QuoError, match="'A' twice"):
        next(iterator)
    assert requests_mock.call_count == 3


def test_same_token_every_page_is_caught_on_second_page(hook, list_url, requests_mock):
    requests_mock.get(list_url, json={"data": [{"id": "CN1"}], "nextPageToken": "same"})
    with pytest.raises(QuoError, match="twice"):
        list(hook.iter_conversations())
    assert requests_mock.call_count == 2


def test_max_pages_caps_the_listing(hook, list_url, requests_mock):
    requests_mock.get(list_url, [page([f"CN{n}"], f"t{n}") for n in range(10)])
    iterator = hook.iter_conversations(max_pages=3)
    assert [next(iterator)["id"] for _ in range(3)] == ["CN0", "CN1", "CN2"]
    with pytest.raises(QuoError, match="max_pages=3"):
        next(iterator)
    assert requests_mock.call_count == 3


def test_max_pages_exactly_enough_is_fine(hook, list_url, requests_mock):
    requests_mock.get(list_url, [page(["CN1"], "t1"), page(["CN2"], None)])
    assert len(list(hook.iter_conversations(max_pages=2))) == 2


def test_page_is_retried_with_the_same_token(hook, list_url, requests_mock):
    requests_mock.get(list_url, [page(["CN1"], "t1"), {"status_code": 503, "text": ""}, page(["CN2"], None)])
    assert [c["id"] for c in hook.iter_conversations()] == ["CN1", "CN2"]
    history = requests_mock.request_history
    assert query(history[1]) == query(history[2]) == [("maxResults", "100"), ("pageToken", "t1")]


def test_error_mid_listing_propagates_after_earlier_pages(quo_conn, list_url, requests_mock):
    hook = QuoHook(retry_limit=1)
    requests_mock.get(list_url, [page(["CN1"], "t1"), {"status_code": 500, "json": {"message": "x"}}])
    iterator = hook.iter_conversations()
    assert next(iterator)["id"] == "CN1"
    with pytest.raises(QuoServerError):
        next(iterator)


def test_filters_on_the_wire(hook, list_url, requests_mock):
    requests_mock.get(list_url, json={"data": [], "nextPageToken": None})
    after = datetime(2026, 11, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    before = datetime(2026, 11, 2, 0, 0, 0, 123456, tzinfo=timezone.utc)

    list(
        hook.iter_conversations(
            phone_numbers=["+15555550100", "PN123"],
            user_id="US9",
            created_after=after,
            created_before="2026-11-05T00:00:00Z",
            updated_after="2026-10-01T00:00:00+00:00",
            updated_before=before,
            exclude_inactive=False,
            page_size=50,
        )
    )

    url = requests_mock.last_request.url
    raw_query = urlsplit(url).query
    assert "phoneNumbers=%2B15555550100&phoneNumbers=PN123" in raw_query
    assert "+" not in raw_query
    assert query(requests_mock.last_request) == [
        ("maxResults", "50"),
        ("phoneNumbers", "+15555550100"),
        ("phoneNumbers", "PN123"),
        ("userId", "US9"),
        ("createdAfter", "2026-11-01T00:00:00.000Z"),
        ("createdBefore", "2026-11-05T00:00:00Z"),
        ("updatedAfter", "2026-10-01T00:00:00+00:00"),
        ("updatedBefore", "2026-11-02T00:00:00.123Z"),
        ("excludeInactive", "false"),
    ]


def test_naive_datetime_rejected_before_sending(hook, requests_mock):
    with pytest.raises(ValueError, match="naive datetime"):
        list(hook.iter_conversations(updated_before=datetime(2026, 11, 1)))
    assert requests_mock.call_count == 0


@pytest.mark.parametrize("page_size", [0, 101, -1, 2.5, "10"])
def test_bad_page_size_rejected_before_sending(hook, requests_mock, page_size):
    with pytest.raises(ValueError, match="page_size"):
        list(hook.iter_conversations(page_size=page_size))
    assert requests_mock.call_count == 0
