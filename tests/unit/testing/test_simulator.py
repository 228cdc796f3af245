"""The Quo simulator's HTTP API: listing, filters, paging, marks, auth and routing (real HTTP on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from airflow_provider_quo.testing import QuoSimulator

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
KEY = "test-key"
FIELDS = {
    "assignedTo",
    "createdAt",
    "deletedAt",
    "id",
    "lastActivityAt",
    "lastActivityId",
    "mutedUntil",
    "name",
    "participants",
    "phoneNumberId",
    "snoozedUntil",
    "updatedAt",
}


@pytest.fixture
def sim() -> Iterator[QuoSimulator]:
    with QuoSimulator(api_key=KEY, conversations=60, phone_numbers=3, seed=7, now=NOW) as simulator:
        yield simulator


def get(sim: QuoSimulator, path: str, params: Any = None, key: str | None = KEY) -> requests.Response:
    headers = {"Authorization": key} if key is not None else {}
    return requests.get(sim.base_url + path, params=params, headers=headers, timeout=5)


def post(sim: QuoSimulator, path: str, key: str | None = KEY) -> requests.Response:
    headers = {"Authorization": key} if key is not None else {}
    return requests.post(sim.base_url + path, headers=headers, timeout=5)


def list_all(sim: QuoSimulator, params: list[tuple[str, str]], page_size: int = 7) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = [*params, ("maxResults", str(page_size))]
    for _ in range(100):
        response = get(sim, "/v1/conversations", query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["data"]) <= page_size
        items += body["data"]
        if body["nextPageToken"] is None:
            return items
        query = [p for p in query if p[0] != "pageToken"] + [("pageToken", body["nextPageToken"])]
    raise AssertionError("endless paging")


def ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_field_error(response: requests.Response, path: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == "1000400"
    assert body["title"] == "Bad Request"
    assert body["errors"][0]["path"] == path
    return body


# -- listing -------------------------------------------------------------------------------------


def test_default_page_size_and_envelope(sim: QuoSimulator) -> None:
    body = get(sim, "/v1/conversations").json()
    assert set(body) == {"data", "totalItems", "nextPageToken"}
    assert len(body["data"]) == 10
    assert body["totalItems"] == 60
    assert all(set(item) == FIELDS for item in body["data"])


def test_paging_returns_every_conversation_once_in_order(sim: QuoSimulator) -> None:
    items = list_all(sim, [], page_size=7)
    ids = [item["id"] for item in items]
    assert ids == sim.conversation_ids()
    assert len(set(ids)) == 60
    activity = [ts(item["lastActivityAt"]) for item in items]
    dated = [a for a in activity if a is not None]
    assert dated == sorted(dated, reverse=True)
    assert activity[len(dated) :] == [None] * (len(activity) - len(dated))  # nulls last
    assert len(dated) < len(activity)


def test_last_page_has_null_token(sim: QuoSimulator) -> None:
    body = get(sim, "/v1/conversations", {"maxResults": 100}).json()
    assert len(body["data"]) == 60
    assert body["nextPageToken"] is None


@pytest.mark.parametrize("value", ["0", "101", "abc", "-1", ""])
def test_bad_max_results(sim: QuoSimulator, value: str) -> None:
    body = assert_field_error(get(sim, "/v1/conversations", {"maxResults": value}), "/maxResults")
    assert body["errors"][0]["value"] == value


def test_unknown_page_token(sim: QuoSimulator) -> None:
    assert_field_error(get(sim, "/v1/conversations", {"pageToken": "nope"}), "/pageToken")


def test_page_token_is_bound_to_its_filters(sim: QuoSimulator) -> None:
    token = get(sim, "/v1/conversations", {"maxResults": 5}).json()["nextPageToken"]
    assert get(sim, "/v1/conversations", {"maxResults": 20, "pageToken": token}).status_code == 200
    changed = get(sim, "/v1/conversations", {"pageToken": token, "excludeInactive": "true"})
    assert_field_error(changed, "/pageToken")


def test_filter_by_phone_number_ids_and_numbers(sim: QuoSimulator) -> None:
    first, second, _ = sim.phone_numbers
    by_id = list_all(sim, [("phoneNumbers", first["id"])])
    assert by_id
    assert {item["phoneNumberId"] for item in by_id} == {first["id"]}
    by_number = list_all(sim, [("phoneNumbers", first["number"])])  # requests sends + as %2B
    assert [i["id"] for i in by_number] == [i["id"] for i in by_id]
    both = list_all(sim, [("phoneNumbers", first["id"]), ("phoneNumbers", second["number"])])
    assert {item["phoneNumberId"] for item in both} == {first["id"], second["id"]}
    deprecated = list_all(sim, [("phoneNumber", first["id"])])
    assert len(deprecated) == len(by_id)


def test_unencoded_plus_in_phone_number_is_a_bad_request(sim: QuoSimulator) -> None:
    number = sim.phone_numbers[0]["number"]
    raw = requests.get(f"{sim.base_url}/v1/conversations?phoneNumbers={number}", headers={"Authorization": KEY})
    body = assert_field_error(raw, "/phoneNumbers")
    assert body["errors"][0]["value"] == " " + number[1:]
    encoded = number.replace("+", "%2B")
    assert requests.get(f"{sim.base_url}/v1/conversations?phoneNumbers={encoded}", headers={"Authorization": KEY}).ok
    assert sim.requests[-1].raw_query == f"phoneNumbers={encoded}"


def test_foreign_phone_number_is_forbidden(sim: QuoSimulator) -> None:
    response = get(sim, "/v1/conversations", {"phoneNumbers": "PNnotours"})
    assert response.status_code == 403
    assert response.json()["code"] == "1001403"
    assert get(sim, "/v1/conversations", {"phoneNumbers": "+15550000000"}).status_code == 403


def test_garbage_phone_number(sim: QuoSimulator) -> None:
    assert_field_error(get(sim, "/v1/conversations", {"phoneNumbers": "main line"}), "/phoneNumbers")


def test_filter_by_user(sim: QuoSimulator) -> None:
    user = sim.user_ids[0]
    items = list_all(sim, [("userId", user)])
    expected = [cid for cid in sim.conversation_ids() if sim.conversation(cid)["assignedTo"] == user]
    assert [item["id"] for item in items] == expected
    assert expected
    assert_field_error(get(sim, "/v1/conversations", {"userId": "bob"}), "/userId")


@pytest.mark.parametrize(
    ("after", "before", "field"),
    [("createdAfter", "createdBefore", "createdAt"), ("updatedAfter", "updatedBefore", "updatedAt")],
)
def test_date_filters(sim: QuoSimulator, after: str, before: str, field: str) -> None:
    low, high = NOW - timedelta(days=60), NOW - timedelta(days=20)
    items = list_all(sim, [(after, low.strftime("%Y-%m-%dT%H:%M:%SZ")), (before, high.isoformat())])
    expected = {cid for cid in sim.conversation_ids() if low <= (ts(sim.conversation(cid)[field]) or NOW) < high}
    assert {item["id"] for item in items} == expected
    assert 0 < len(expected) < 60
    only_after = list_all(sim, [(after, (low + timedelta(hours=2)).isoformat().replace("+00:00", "+02:00"))])
    assert all(ts(item[field]) >= low for item in only_after)  # type: ignore[operator]


@pytest.mark.parametrize("value", ["yesterday", "2026-11-01", "2026-11-01T00:00:00", "2026-13-01T00:00:00Z", ""])
def test_bad_dates(sim: QuoSimulator, value: str) -> None:
    assert_field_error(get(sim, "/v1/conversations", {"updatedAfter": value}), "/updatedAfter")


def test_exclude_inactive_drops_deleted(sim: QuoSimulator) -> None:
    deleted = set(sim.conversation_ids(deleted=True))
    assert deleted
    active = list_all(sim, [("excludeInactive", "true")])
    assert {item["id"] for item in active} == set(sim.conversation_ids()) - deleted
    assert len(list_all(sim, [("excludeInactive", "false")])) == 60
    assert_field_error(get(sim, "/v1/conversations", {"excludeInactive": "maybe"}), "/excludeInactive")


# -- marks ---------------------------------------------------------------------------------------


def test_mark_as_read_returns_the_updated_conversation(sim: QuoSimulator) -> None:
    cid = sim.conversation_ids(deleted=False)[0]
    before = sim.conversation(cid)
    response = post(sim, f"/v1/conversations/{cid}/mark-as-read")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert body["id"] == cid
    assert ts(body["updatedAt"]) >= ts(before["updatedAt"])  # type: ignore[operator]
    assert ts(body["updatedAt"]) >= NOW  # type: ignore[operator]
    assert {k: v for k, v in body.items() if k != "updatedAt"} == {k: v for k, v in before.items() if k != "updatedAt"}
    assert sim.state(cid) == {"read": True, "done": False, "mark_calls": 1}
    assert post(sim, f"/v1/conversations/{cid}/mark-as-read").status_code == 200
    assert sim.state(cid) == {"read": True, "done": False, "mark_calls": 2}
    assert sim.read_ids() == {cid}


def test_mark_as_done_and_open(sim: QuoSimulator) -> None:
    cid = sim.conversation_ids(deleted=False)[3]
    for _ in range(2):
        assert post(sim, f"/v1/conversations/{cid}/mark-as-done").json()["id"] == cid
        assert sim.state(cid)["done"] is True
    assert sim.done_ids() == {cid}
    assert post(sim, f"/v1/conversations/{cid}/mark-as-open").status_code == 200
    assert sim.state(cid) == {"read": False, "done": False, "mark_calls": 3}
    assert sim.done_ids() == set()


@pytest.mark.parametrize("segment", ["XX123", "cn123", "%2FCN123", "%20CN1", "CN%0A", "", "123CN"])
def test_bad_conversation_id(sim: QuoSimulator, segment: str) -> None:
    body = assert_field_error(post(sim, f"/v1/conversations/{segment}/mark-as-read"), "/conversationId")
    assert body["errors"][0]["message"] == "Expected string to match '^CN(.*)$'"


def test_encoded_slash_after_prefix_is_one_segment(sim: QuoSimulator) -> None:
    response = post(sim, "/v1/conversations/CN%2Fabc/mark-as-read")
    assert response.status_code == 404
    record = sim.requests[-1]
    assert record.raw_path == "/v1/conversations/CN%2Fabc/mark-as-read"
    assert record.path == "/v1/conversations/CN/abc/mark-as-read"


def test_unknown_and_deleted_conversations_are_not_found(sim: QuoSimulator) -> None:
    for cid in ["CN" + "x" * 30, sim.conversation_ids(deleted=True)[0]]:
        response = post(sim, f"/v1/conversations/{cid}/mark-as-done")
        assert response.status_code == 404
        assert response.json()["message"] == "Conversation not found"
        assert response.json()["code"] == "1000404"
    assert sim.done_ids() == set()


# -- auth and routing ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "wrong", f"Bearer {KEY}", KEY + " ", KEY.upper()])
def test_auth(sim: QuoSimulator, key: str | None) -> None:
    response = get(sim, "/v1/phone-numbers", key=key)
    assert response.status_code == 401
    assert response.json()["code"] == "1000401"
    assert sim.requests[-1].authorized is False
    assert post(sim, f"/v1/conversations/{sim.conversation_ids()[0]}/mark-as-read", key=key).status_code == 401
    assert sim.read_ids() == set()


def test_phone_numbers(sim: QuoSimulator) -> None:
    body = get(sim, "/v1/phone-numbers").json()
    assert [n["id"] for n in body["data"]] == [n["id"] for n in sim.phone_numbers]
    for number in body["data"]:
        assert number["id"].startswith("PN")
        assert number["number"].startswith("+1")
        assert len(number["number"]) == 12
        assert number["users"]
    user = sim.user_ids[0]
    mine = get(sim, "/v1/phone-numbers", {"userId": user}).json()["data"]
    assert all(any(u["id"] == user for u in n["users"]) for n in mine)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nothing"),
        ("GET", "/"),
        ("GET", "/v2/conversations"),
        ("POST", "/v1/conversations/CN1/mark-as-unread"),
        ("POST", "/v1/conversations/CN1/x/mark-as-read"),
        ("DELETE", "/v1/conversations/CN1"),
        ("POST", "/_simulator/stats"),
        ("GET", "/_simulator/other"),
    ],
)
def test_unknown_routes_are_404_and_recorded(sim: QuoSimulator, method: str, path: str) -> None:
    for headers in ({"Authorization": KEY}, {}):
        response = requests.request(method, sim.base_url + path, headers=headers, timeout=5)
        assert response.status_code == 404
        assert response.json()["code"] == "1000404"
    assert sim.request_count(method=method, path_prefix=path, status=404) == 2
