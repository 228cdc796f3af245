"""Contract test: the simulator's real responses validate against Quo's published JSON Schemas.

The schemas in ``tests/contract/`` are vendored from the OpenAPI excerpt in
``shared/quo-api/mark-conversation-as-read.md`` (see ``tests/contract/README.md``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker

from airflow_provider_quo.testing import QuoSimulator

pytestmark = pytest.mark.integration

CONTRACT = Path(__file__).resolve().parents[2] / "contract"
#: The shared contract folder sits beside the checkout (``../shared``), or beside the folder holding it
#: (a git worktree under ``../wt/``): the first ancestor that has it wins.
SHARED_EXCERPT = Path("shared") / "quo-api" / "mark-conversation-as-read.md"
SHARED_SPEC = next(
    (folder / SHARED_EXCERPT for folder in Path(__file__).resolve().parents[1:] if (folder / SHARED_EXCERPT).exists()),
    None,
)
SCHEMA_FILES = {
    200: "conversation.json",
    400: "error-400.json",
    401: "error-401.json",
    403: "error-403.json",
    404: "error-404.json",
    500: "error-500.json",
}
KEY = "test-key"
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time (``jsonschema`` skips the format without its optional dependency)."""
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@functools.cache
def validator(status: int) -> Draft202012Validator:
    schema = json.loads((CONTRACT / SCHEMA_FILES[status]).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


def assert_valid(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(status).iter_errors(body)]
    assert not errors, errors
    return body


@pytest.fixture(scope="module")
def sim() -> Iterator[QuoSimulator]:
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with QuoSimulator(api_key=KEY, conversations=150, phone_numbers=3, seed=2, now=now) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def session() -> requests.Session:
    client = requests.Session()
    client.headers["Authorization"] = KEY
    return client


def test_vendored_schemas_match_the_shared_excerpt() -> None:
    if SHARED_SPEC is None:
        pytest.skip(f"no {SHARED_EXCERPT} beside this checkout: tests/contract/ is used as vendored")
    yaml = pytest.importorskip("yaml")
    block = re.search(r"````yaml[^\n]*\n(.*?)````", SHARED_SPEC.read_text(), re.S)
    assert block is not None
    spec = yaml.safe_load(block.group(1))
    responses = spec["paths"]["/v1/conversations/{conversationId}/mark-as-read"]["post"]["responses"]
    for status, name in SCHEMA_FILES.items():
        expected = responses[str(status)]["content"]["application/json"]["schema"]
        assert json.loads((CONTRACT / name).read_text()) == expected, name


def test_schemas_reject_wrong_bodies() -> None:
    conversation = validator(200)
    assert not conversation.is_valid({"id": "CN1"})
    assert not validator(404).is_valid({"message": "x", "code": "1000400", "status": 404, "docs": "d", "title": "t"})
    assert not _valid_date_time("2026-11-01 00:00")


def _valid_date_time(value: str) -> bool:
    return bool(FORMATS.conforms(value, "date-time"))


def test_list_items_match_the_conversation_schema(sim: QuoSimulator, session: requests.Session) -> None:
    params: list[tuple[str, str]] = [("maxResults", "40")]
    seen = 0
    while True:
        response = session.get(sim.base_url + "/v1/conversations", params=params)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"data", "totalItems", "nextPageToken"}
        assert isinstance(body["totalItems"], int)
        assert body["nextPageToken"] is None or isinstance(body["nextPageToken"], str)
        for item in body["data"]:
            errors = [e.message for e in validator(200).iter_errors(item)]
            assert not errors, (item["id"], errors)
        seen += len(body["data"])
        if not body["nextPageToken"]:
            break
        params = [("maxResults", "40"), ("pageToken", body["nextPageToken"])]
    assert seen == 150


@pytest.mark.parametrize("action", ["read", "done", "open"])
def test_mark_responses_match_the_200_schema(sim: QuoSimulator, session: requests.Session, action: str) -> None:
    variety = [
        *sim.conversation_ids(deleted=False, snoozed=True)[:2],
        *sim.conversation_ids(deleted=False, muted=True)[:2],
        sim.conversation_ids(deleted=False)[-1],  # null lastActivityAt
        sim.conversation_ids(deleted=False)[0],
    ]
    for cid in variety:
        body = assert_valid(session.post(f"{sim.base_url}/v1/conversations/{cid}/mark-as-{action}"), 200)
        assert body["id"] == cid
    assert sim.conversation(variety[-2])["lastActivityAt"] is None


def test_added_conversations_match_the_200_schema(sim: QuoSimulator, session: requests.Session) -> None:
    added = sim.add_conversation(assigned_to="SYUbot", snoozed_until="2027-01-01T00:00:00Z")
    assert validator(200).is_valid(added)
    assert_valid(session.post(f"{sim.base_url}/v1/conversations/{added['id']}/mark-as-read"), 200)


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("POST", "/v1/conversations/XX1/mark-as-read", None),
        ("POST", "/v1/conversations/%2FCN1/mark-as-done", None),
        ("GET", "/v1/conversations", {"maxResults": "500"}),
        ("GET", "/v1/conversations", {"createdAfter": "last week"}),
        ("GET", "/v1/conversations", {"pageToken": "forged"}),
        ("GET", "/v1/conversations", {"phoneNumbers": "5551234"}),
    ],
)
def test_400_bodies(
    sim: QuoSimulator, session: requests.Session, method: str, path: str, params: dict[str, str] | None
) -> None:
    body = assert_valid(session.request(method, sim.base_url + path, params=params), 400)
    assert body["errors"]


def test_400_bad_id_message(sim: QuoSimulator, session: requests.Session) -> None:
    body = assert_valid(session.post(f"{sim.base_url}/v1/conversations/nope/mark-as-read"), 400)
    assert body["errors"][0]["message"] == "Expected string to match '^CN(.*)$'"


def test_401_body(sim: QuoSimulator) -> None:
    assert_valid(requests.post(f"{sim.base_url}/v1/conversations/CN1/mark-as-read", timeout=5), 401)
    assert_valid(requests.get(f"{sim.base_url}/v1/conversations", headers={"Authorization": "nope"}), 401)


def test_403_body(sim: QuoSimulator, session: requests.Session) -> None:
    assert_valid(session.get(sim.base_url + "/v1/conversations", params={"phoneNumbers": "PNother"}), 403)


def test_404_bodies(sim: QuoSimulator, session: requests.Session) -> None:
    body = assert_valid(session.post(f"{sim.base_url}/v1/conversations/CNunknown/mark-as-read"), 404)
    assert body["message"] == "Conversation not found"
    deleted = sim.conversation_ids(deleted=True)[0]
    assert_valid(session.post(f"{sim.base_url}/v1/conversations/{deleted}/mark-as-open"), 404)
    assert_valid(session.get(f"{sim.base_url}/v2/conversations"), 404)


def test_500_body(sim: QuoSimulator, session: requests.Session) -> None:
    sim.fail_next(1, "500")
    assert_valid(session.post(f"{sim.base_url}/v1/conversations/CN1/mark-as-read"), 500)


def test_429_body_has_the_documented_shape(sim: QuoSimulator, session: requests.Session) -> None:
    sim.fail_next(1, "429")
    response = session.get(sim.base_url + "/v1/conversations")
    assert response.status_code == 429
    schema = json.loads((CONTRACT / "error-500.json").read_text())
    for name in ("code", "status", "title"):  # 429's code and title are not documented
        schema["properties"][name].pop("const")
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(response.json())]
    assert not errors, errors
