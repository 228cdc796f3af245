"""hooks/api.py: the query of GET /v1/conversations (conversation_list_params, iso_utc)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from airflow_provider_quo.hooks.api import MAX_PAGE_SIZE, conversation_list_params, iso_utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 11, 1, tzinfo=timezone.utc), "2026-11-01T00:00:00.000Z"),
        (datetime(2026, 11, 1, 1, 30, tzinfo=timezone(timedelta(hours=1, minutes=30))), "2026-11-01T00:00:00.000Z"),
        (datetime(2026, 7, 1, 8, 0, tzinfo=ZoneInfo("America/New_York")), "2026-07-01T12:00:00.000Z"),
        (datetime(2026, 1, 1, 23, 59, 59, 999999, tzinfo=timezone.utc), "2026-01-01T23:59:59.999Z"),
        (datetime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=timezone.utc), "2026-01-01T00:00:00.001Z"),
        ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        ("2026-11-01", "2026-11-01"),
    ],
)
def test_iso_utc(value, expected):
    assert iso_utc(value) == expected


def test_iso_utc_result_parses_back_to_the_same_instant():
    value = datetime(2026, 3, 8, 6, 59, 1, 250000, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert datetime.fromisoformat(iso_utc(value).replace("Z", "+00:00")) == value


def test_iso_utc_rejects_naive():
    with pytest.raises(ValueError, match="naive datetime"):
        iso_utc(datetime(2026, 11, 1))


def test_defaults():
    assert conversation_list_params() == [("maxResults", str(MAX_PAGE_SIZE))]
    assert MAX_PAGE_SIZE == 100


@pytest.mark.parametrize("page_size", [1, 10, 100])
def test_page_size_bounds_ok(page_size):
    assert conversation_list_params(page_size=page_size) == [("maxResults", str(page_size))]


@pytest.mark.parametrize("page_size", [0, -1, 101, 1000, 1.0, "10", None])
def test_page_size_out_of_bounds(page_size):
    with pytest.raises(ValueError, match="page_size must be an integer from 1 to 100"):
        conversation_list_params(page_size=page_size)


def test_phone_numbers_repeated_in_order_and_stripped():
    params = conversation_list_params(phone_numbers=[" +15555550100 ", "PN1", "+15555550101"])
    assert params[1:] == [("phoneNumbers", "+15555550100"), ("phoneNumbers", "PN1"), ("phoneNumbers", "+15555550101")]


def test_single_phone_number_string_is_one_number_not_characters():
    assert conversation_list_params(phone_numbers="PN123")[1:] == [("phoneNumbers", "PN123")]


def test_phone_numbers_from_generator_and_tuple():
    assert conversation_list_params(phone_numbers=(n for n in ["PN1", "PN2"]))[1:] == [
        ("phoneNumbers", "PN1"),
        ("phoneNumbers", "PN2"),
    ]
    assert len(conversation_list_params(phone_numbers=("PN1",))) == 2


def test_empty_phone_numbers_send_no_filter():
    assert conversation_list_params(phone_numbers=[]) == [("maxResults", "100")]


def test_at_most_100_phone_numbers():
    assert len(conversation_list_params(phone_numbers=[f"PN{n}" for n in range(100)])) == 101
    with pytest.raises(ValueError, match="at most 100 phone_numbers"):
        conversation_list_params(phone_numbers=[f"PN{n}" for n in range(101)])


def test_user_id_and_dates_and_flag_in_order():
    aware = datetime(2026, 11, 1, tzinfo=timezone.utc)
    params = conversation_list_params(
        user_id="US1",
        created_after=aware,
        created_before="2026-11-02T00:00:00Z",
        updated_after=aware,
        updated_before=aware,
        exclude_inactive=True,
    )
    assert params == [
        ("maxResults", "100"),
        ("userId", "US1"),
        ("createdAfter", "2026-11-01T00:00:00.000Z"),
        ("createdBefore", "2026-11-02T00:00:00Z"),
        ("updatedAfter", "2026-11-01T00:00:00.000Z"),
        ("updatedBefore", "2026-11-01T00:00:00.000Z"),
        ("excludeInactive", "true"),
    ]


@pytest.mark.parametrize(("flag", "expected"), [(True, "true"), (False, "false")])
def test_exclude_inactive(flag, expected):
    assert ("excludeInactive", expected) in conversation_list_params(exclude_inactive=flag)


def test_exclude_inactive_none_is_omitted():
    assert all(name != "excludeInactive" for name, _ in conversation_list_params(exclude_inactive=None))


@pytest.mark.parametrize("name", ["created_after", "created_before", "updated_after", "updated_before"])
def test_each_date_rejects_naive(name):
    with pytest.raises(ValueError, match="naive"):
        conversation_list_params(**{name: datetime(2026, 1, 1)})


def test_all_values_are_strings():
    params = conversation_list_params(page_size=5, exclude_inactive=False, user_id="US1")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params)


def test_a_keyword_that_is_not_a_filter_is_refused():
    with pytest.raises(TypeError, match="not a conversation filter: user"):
        conversation_list_params(user="US1")  # type: ignore[call-arg]
