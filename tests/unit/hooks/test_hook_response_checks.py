"""A success must prove itself: a mark's 200 is the conversation with the id sent; a listing body is a page."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_quo.exceptions import QuoAPIError, QuoError, QuoUnexpectedResponseError
from airflow_provider_quo.hooks.quo import QuoHook
from tests.conftest import TEST_API_KEY


@pytest.fixture
def mark_url(quo_conn: str) -> str:
    return f"{quo_conn}/v1/conversations/CN1/mark-as-read"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"content": b""}, "with an empty body instead of the conversation"),
        ({"json": {}}, "with an empty body instead of the conversation"),
        ({"json": {"name": "x"}}, "with an object that has no conversation id"),
        ({"json": {"id": None}}, "with an object that has no conversation id"),
        ({"json": {"id": "CN2"}}, "for conversation 'CN2', not the requested 'CN1'"),
        ({"json": {"id": "cn1"}}, "for conversation 'cn1', not the requested 'CN1'"),
        ({"json": {"id": 1}}, "for conversation 1, not the requested 'CN1'"),
        ({"json": {"data": {"id": "CN1"}}}, "with an object that has no conversation id"),  # the dated API's shape
    ],
)
def test_a_200_that_does_not_prove_the_mark_fails_naming_why(
    hook: QuoHook, mark_url: str, requests_mock: Any, answer: dict[str, Any], reason: str
) -> None:
    requests_mock.post(mark_url, **answer)

    with pytest.raises(QuoUnexpectedResponseError) as caught:
        hook.mark_conversation_as_read("CN1")

    assert str(caught.value) == f"Quo API 200 Unexpected response: mark-as-read answered 200 {reason}"
    assert caught.value.kind == "unexpected_response"  # not retried: see DISPOSITIONS
    assert requests_mock.call_count == 1, "not retried: the server answered"


def test_the_conversation_with_the_id_sent_is_a_success(hook: QuoHook, mark_url: str, requests_mock: Any) -> None:
    requests_mock.post(mark_url, json={"id": "CN1", "unknownField": [1]})
    assert hook.mark_conversation_as_read("CN1") == {"id": "CN1", "unknownField": [1]}


def test_an_echoed_key_never_reaches_the_error(hook: QuoHook, mark_url: str, requests_mock: Any) -> None:
    requests_mock.post(mark_url, json={"id": f"CN{TEST_API_KEY}"})
    with pytest.raises(QuoUnexpectedResponseError) as caught:
        hook.mark_conversation_as_read("CN1")
    assert TEST_API_KEY not in str(caught.value)
    assert TEST_API_KEY not in repr(caught.value)
    assert "'CN***'" in str(caught.value)


# -- listing pages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"data": {"id": "CN1"}}, "the listing page's 'data' is dict, not a list"),
        ({"data": "CN1"}, "the listing page's 'data' is str, not a list"),
        ({"data": None}, "the listing page's 'data' is NoneType, not a list"),
        ({"data": 3}, "the listing page's 'data' is int, not a list"),
        ({"conversations": []}, "the listing page's 'data' is missing (empty body or another object), not a list"),
        ({}, "the listing page's 'data' is missing (empty body or another object), not a list"),
        ({"data": [], "nextPageToken": 5}, "the listing page's 'nextPageToken' is int, not a string"),
        ({"data": [], "nextPageToken": ["t"]}, "the listing page's 'nextPageToken' is list, not a string"),
    ],
)
def test_a_body_that_is_not_a_page_raises_a_typed_error(
    hook: QuoHook, quo_conn: str, requests_mock: Any, body: dict[str, Any], problem: str
) -> None:
    requests_mock.get(f"{quo_conn}/v1/conversations", json=body)

    with pytest.raises(QuoUnexpectedResponseError) as caught:
        list(hook.iter_conversations())

    assert str(caught.value) == f"Quo API 200 Unexpected response: {problem}"
    assert isinstance(caught.value, (QuoAPIError, QuoError))


def test_an_empty_listing_body_raises_a_typed_error(hook: QuoHook, quo_conn: str, requests_mock: Any) -> None:
    requests_mock.get(f"{quo_conn}/v1/conversations", content=b"")
    with pytest.raises(QuoUnexpectedResponseError, match="'data' is missing"):
        list(hook.iter_conversations())


def test_items_of_a_page_are_yielded_as_they_came(hook: QuoHook, quo_conn: str, requests_mock: Any) -> None:
    """Malformed items are the caller's to skip and count (the listing operator does): the hook keeps them all."""
    junk: list[Any] = ["CN1", 2, None, {"name": "no id"}, {"id": 7}, {"id": "CN2"}]
    requests_mock.get(f"{quo_conn}/v1/conversations", json={"data": junk, "nextPageToken": None})
    assert list(hook.iter_conversations()) == junk


def test_the_first_page_is_yielded_before_a_bad_second_page_raises(
    hook: QuoHook, quo_conn: str, requests_mock: Any
) -> None:
    requests_mock.get(
        f"{quo_conn}/v1/conversations",
        [{"json": {"data": [{"id": "CN1"}], "nextPageToken": "t1"}}, {"json": {"data": {"id": "CN2"}}}],
    )
    seen: list[Any] = []
    with pytest.raises(QuoUnexpectedResponseError):
        seen.extend(hook.iter_conversations())
    assert seen == [{"id": "CN1"}]


def test_a_success_body_is_returned_as_the_server_sent_it(hook: QuoHook, mark_url: str, requests_mock: Any) -> None:
    """The data is decided on as sent: nothing in a success body is rewritten (only error messages are redacted)."""
    body = {"id": "CN1", "name": f"owner {TEST_API_KEY}", "participants": ["+15555550100"], "extra": {"a": [1]}}
    requests_mock.post(mark_url, json=body)
    assert hook.mark_conversation_as_read("CN1") == body
