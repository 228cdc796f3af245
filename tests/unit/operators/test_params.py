"""Coercion of rendered template values: as_bool, as_optional_int, as_string_list, as_duration, positive_number."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_quo.conversation_ids import as_bool, as_optional_int, as_string_list
from airflow_provider_quo.hooks.settings import positive_number
from airflow_provider_quo.operators._staleness import as_duration


@pytest.mark.parametrize("value", [True, "True", "true", " TRUE ", "1", "yes", "on", 1])
def test_as_bool_true(value: Any) -> None:
    assert as_bool(value, "flag") is True


@pytest.mark.parametrize("value", [False, "False", "false", "0", "no", "off", 0])
def test_as_bool_false(value: Any) -> None:
    assert as_bool(value, "flag") is False


@pytest.mark.parametrize("value", ["maybe", "ture", "2", 2, "yes please", [], "t", "", "  ", "None", None])
def test_as_bool_rejects_and_names_the_argument(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^my_flag must be true or false, got "):
        as_bool(value, "my_flag")


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("None", None), (" none ", None)])
def test_as_optional_int_none_forms(value: Any, expected: Any) -> None:
    assert as_optional_int(value, "limit") is expected


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (5, 5), ("5", 5), (" 7 ", 7), ("1000", 1000)])
def test_as_optional_int_values(value: Any, expected: int) -> None:
    result = as_optional_int(value, "limit")
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("value", [0, "0", -1, "-3", "abc", "2.5", 2.5, True, False, "1e3"])
def test_as_optional_int_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^limit must be a whole number of at least 1"):
        as_optional_int(value, "limit")


def test_as_optional_int_minimum() -> None:
    assert as_optional_int("0", "n", minimum=0) == 0
    with pytest.raises(ValueError, match="at least 3"):
        as_optional_int(2, "n", minimum=3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(days=2), timedelta(days=2)),
        (timedelta(minutes=1), timedelta(minutes=1)),
        (7, timedelta(days=7)),
        (1.5, timedelta(hours=36)),
        ("7", timedelta(days=7)),
        (" 7 ", timedelta(days=7)),
        ("0.5", timedelta(hours=12)),
        ("P7D", timedelta(days=7)),
        ("p7d", timedelta(days=7)),
        ("PT36H", timedelta(hours=36)),
        ("P1DT12H", timedelta(hours=36)),
        ("P2W", timedelta(days=14)),
        ("P1W2D", timedelta(days=9)),
        ("PT30M", timedelta(minutes=30)),
        ("PT1M", timedelta(minutes=1)),
        ("PT90S", timedelta(seconds=90)),
        ("PT1H30M", timedelta(minutes=90)),
        ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("P1.5D", timedelta(hours=36)),
    ],
)
def test_as_duration_accepts(value: Any, expected: timedelta) -> None:
    assert as_duration(value, "older_than") == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("P1Y", id="years"),
        pytest.param("P1M", id="months-ambiguous"),
        pytest.param("P1Y2M", id="years-months"),
        pytest.param("P1MT1H", id="months-with-time"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("abc", id="text"),
        pytest.param("P", id="bare-P"),
        pytest.param("PT", id="bare-PT"),
        pytest.param("P1DT", id="trailing-T"),
        pytest.param("T1H", id="no-P"),
        pytest.param("7 days", id="words"),
        pytest.param("nan", id="nan"),
    ],
)
def test_as_duration_rejects_unparseable(value: str) -> None:
    with pytest.raises(ValueError, match=r"^older_than must be a timedelta, a number of days or an ISO 8601"):
        as_duration(value, "older_than")


@pytest.mark.parametrize("value", [0, -1, 0.0, "0", "-7", "P0D", "PT0S", timedelta(0), timedelta(days=-1)])
def test_as_duration_rejects_zero_and_negative(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^older_than must be positive"):
        as_duration(value, "older_than")


@pytest.mark.parametrize("value", [True, False, None, [7], {"days": 7}])
def test_as_duration_rejects_other_types(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^older_than must be"):
        as_duration(value, "older_than")


def test_months_only_mean_minutes_after_t() -> None:
    assert as_duration("PT2M", "d") == timedelta(minutes=2)
    with pytest.raises(ValueError, match="years and months are ambiguous"):
        as_duration("P2M", "d")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("   ", []),
        ("[]", []),
        (["PN1", " +15551234567 ", ""], ["PN1", "+15551234567"]),
        (("PN1", "PN2"), ["PN1", "PN2"]),
        ('["PN1", "+15551234567"]', ["PN1", "+15551234567"]),
        (' ["PN1"] ', ["PN1"]),
        ("PN1, +15551234567", ["PN1", "+15551234567"]),
        ("PN1 PN2,PN3", ["PN1", "PN2", "PN3"]),
        ("PN1", ["PN1"]),
    ],
)
def test_as_string_list_accepts(value: Any, expected: list[str]) -> None:
    assert as_string_list(value, "phone_numbers") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[not json", "looks like a JSON list but does not parse"),
        ("[1, 2]", "must contain only strings"),
        ([1], "must contain only strings"),
        (["PN1", None], "must contain only strings"),
        (5, "must be a list of strings"),
        ({"PN1": 1}, "must be a list of strings"),
        (b"PN1", "must be a list of strings"),
    ],
)
def test_as_string_list_rejects(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=r"^phone_numbers " + message):
        as_string_list(value, "phone_numbers")


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("None", None), (5, 5.0), ("2.5", 2.5)])
def test_positive_number(value: Any, expected: float | None) -> None:
    assert positive_number(value, "requests_per_second") == expected


@pytest.mark.parametrize("value", [0, -1, "abc", "inf", "nan", True, [5]])
def test_positive_number_rejects_and_names_the_argument(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^requests_per_second must be a positive number, got "):
        positive_number(value, "requests_per_second")
