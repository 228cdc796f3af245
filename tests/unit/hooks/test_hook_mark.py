"""QuoHook.mark_conversation*: paths, bodies, id validation before sending, path-segment encoding."""

from __future__ import annotations

import threading

import pytest
from requests_mock import ANY

from airflow_provider_quo.exceptions import QuoError, QuoInvalidConversationIdError, QuoNotFoundError
from airflow_provider_quo.hooks.quo import QuoHook
from tests.mark_echo import echo_conversation

CONVERSATION = {
    "id": "CN123abc",
    "phoneNumberId": "PN123abc",
    "participants": ["+15555555555"],
    "assignedTo": None,
    "name": None,
    "lastActivityId": "AC123abc",
    "createdAt": "2026-01-01T00:00:00.000Z",
    "updatedAt": "2026-11-01T00:00:00.000Z",
    "lastActivityAt": "2026-11-01T00:00:00.000Z",
    "deletedAt": None,
    "mutedUntil": None,
    "snoozedUntil": None,
    "someFutureField": {"x": 1},
}


@pytest.mark.parametrize(
    ("method_name", "action"),
    [
        ("mark_conversation_as_read", "read"),
        ("mark_conversation_as_done", "done"),
        ("mark_conversation_as_open", "open"),
    ],
)
def test_mark_methods_post_to_their_path_and_return_the_body(hook, quo_conn, requests_mock, method_name, action):
    requests_mock.post(ANY, json=CONVERSATION)

    assert getattr(hook, method_name)("CN123abc") == CONVERSATION

    assert requests_mock.call_count == 1
    assert requests_mock.last_request.method == "POST"
    assert requests_mock.last_request.url == f"{quo_conn}/v1/conversations/CN123abc/mark-as-{action}"


@pytest.mark.parametrize("action", ["read", "done", "open"])
def test_mark_conversation_action(hook, quo_conn, requests_mock, action):
    requests_mock.post(ANY, json=CONVERSATION)
    assert hook.mark_conversation("CN123abc", action) == CONVERSATION
    assert requests_mock.last_request.url.endswith(f"/CN123abc/mark-as-{action}")


def test_mark_conversation_defaults_to_read(hook, requests_mock):
    requests_mock.post(ANY, json=echo_conversation)
    hook.mark_conversation("CN1")
    assert requests_mock.last_request.url.endswith("/mark-as-read")


@pytest.mark.parametrize("action", ["unread", "READ", "", None, "read/../x", "mark-as-read"])
def test_invalid_action_raises_value_error_before_sending(hook, requests_mock, action):
    requests_mock.post(ANY, json=CONVERSATION)
    with pytest.raises(ValueError, match="action must be one of"):
        hook.mark_conversation("CN1", action)
    assert requests_mock.call_count == 0


def test_404_is_typed(hook, requests_mock):
    body = {"message": "Conversation not found", "code": "1000404", "status": 404, "title": "Not Found"}
    requests_mock.post(ANY, status_code=404, json=body)
    with pytest.raises(QuoNotFoundError, match="Conversation not found"):
        hook.mark_conversation_as_read("CNgone")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "None"),
        ("", "''"),
        ("cn1", "'cn1'"),
        ("CN", "'CN'"),
        (" CN1", "' CN1'"),
        ("CN 1", "'CN 1'"),
        ("CN\n1", r"'CN\n1'"),
        ("CN1\t", r"'CN1\t'"),
        ("CN\x001", r"'CN\x001'"),
        ("CN\x7f1", r"'CN\x7f1'"),
        ("CN\u200b1", "CN"),  # zero-width space: a format (Cf) control character
        ("CN\u20281", "CN"),  # line separator
        ("CN" + "a" * 298, "chars"),
        (123, "123"),
        ({"id": "CN1"}, "'id'"),
        (["CN1"], "CN1"),
        (b"CN1", "b'CN1'"),
    ],
)
@pytest.mark.parametrize("action", ["read", "done", "open"])
def test_invalid_ids_raise_naming_the_value_and_send_nothing(hook, requests_mock, value, shown, action):
    requests_mock.post(ANY, json=CONVERSATION)
    with pytest.raises(QuoInvalidConversationIdError) as caught:
        hook.mark_conversation(value, action)
    assert shown in str(caught.value)
    assert "Invalid conversation id" in str(caught.value)
    assert requests_mock.call_count == 0


def test_invalid_id_error_is_also_a_value_error(hook, requests_mock):
    with pytest.raises(ValueError, match="'XX1'"):
        hook.mark_conversation_as_read("XX1")
    assert requests_mock.call_count == 0


def test_longest_allowed_id_is_sent(hook, quo_conn, requests_mock):
    requests_mock.post(ANY, json=echo_conversation)
    long_id = "CN" + "a" * 254
    hook.mark_conversation_as_read(long_id)
    assert requests_mock.last_request.url == f"{quo_conn}/v1/conversations/{long_id}/mark-as-read"
    with pytest.raises(QuoInvalidConversationIdError, match="longer than 256"):
        hook.mark_conversation_as_read(long_id + "a")
    assert requests_mock.call_count == 1


@pytest.mark.parametrize(
    ("conversation_id", "segment"),
    [
        ("CN1/../x", "CN1%2F..%2Fx"),
        ("CN1/mark-as-done", "CN1%2Fmark-as-done"),
        ("CN1?x=1", "CN1%3Fx%3D1"),
        ("CN1#f", "CN1%23f"),
        ("CN%2F", "CN%252F"),
        ("CNé", "CN%C3%A9"),
        ("CN..", "CN.."),
        ("CN1;a", "CN1%3Ba"),
        ("CN1&b", "CN1%26b"),
        ("CN1+c", "CN1%2Bc"),
        ("CN1\\d", "CN1%5Cd"),
        ("CN123abc_-.~", "CN123abc_-.~"),
    ],
)
def test_hostile_but_valid_ids_are_one_encoded_segment(hook, quo_conn, requests_mock, conversation_id, segment):
    requests_mock.post(ANY, json=echo_conversation)

    hook.mark_conversation_as_read(conversation_id)

    sent = requests_mock.last_request
    assert sent.url == f"{quo_conn}/v1/conversations/{segment}/mark-as-read"
    path = sent.url[len(quo_conn) :]
    assert path.split("?")[0].split("/") == ["", "v1", "conversations", segment, "mark-as-read"]
    assert "?" not in sent.url
    assert "#" not in sent.url


def test_request_encodes_each_segment(hook, quo_conn, requests_mock):
    requests_mock.get(ANY, json={})
    hook.request("GET", "v1", "a/b", "c d?#")
    assert requests_mock.last_request.url == f"{quo_conn}/v1/a%2Fb/c%20d%3F%23"


def test_mark_conversations_yields_every_outcome(hook, quo_conn, requests_mock):
    ids = [f"CN{n}" for n in range(30)]
    for cid in ids:
        status = 404 if cid == "CN7" else 200
        requests_mock.post(f"{quo_conn}/v1/conversations/{cid}/mark-as-done", status_code=status, json={"id": cid})

    outcomes = {o.item: o for o in hook.mark_conversations(iter(ids), "done", max_workers=4)}

    assert set(outcomes) == set(ids)
    assert isinstance(outcomes["CN7"].error, QuoNotFoundError)
    assert all(outcomes[c].result == {"id": c} for c in ids if c != "CN7")
    assert requests_mock.call_count == 30


def test_mark_conversations_stop_taking(hook, quo_conn, requests_mock):
    requests_mock.post(ANY, json=CONVERSATION)
    stop = threading.Event()
    outcomes = []
    for outcome in hook.mark_conversations([f"CN{n}" for n in range(1000)], max_workers=2, stop_taking=stop):
        outcomes.append(outcome)
        stop.set()
    assert len(outcomes) == 1
    assert requests_mock.call_count == 1


def test_mark_conversations_raises_once_for_a_connection_without_key(monkeypatch, requests_mock) -> None:
    """A missing API key is one error from mark_conversations, not one failure per id."""
    monkeypatch.setenv("AIRFLOW_CONN_QUO_NOKEY", '{"conn_type": "quo", "host": "http://127.0.0.1:8999"}')
    hook = QuoHook(quo_conn_id="quo_nokey")
    with pytest.raises(QuoError, match="quo_nokey"):
        hook.mark_conversations(["CN1", "CN2", "CN3"])
    assert requests_mock.call_count == 0
