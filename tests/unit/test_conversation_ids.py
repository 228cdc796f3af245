"""validate_conversation_id and parse_conversation_ids: every accepted form, every rejection."""

from __future__ import annotations

import json

import pytest

from airflow_provider_quo.conversation_ids import (
    MAX_CONVERSATION_ID_LENGTH,
    conversation_id_problem,
    describe_value,
    parse_conversation_ids,
    partition_conversation_ids,
    validate_conversation_id,
)
from airflow_provider_quo.exceptions import QuoInvalidConversationIdError

VALID = ["CN1", "CN123abc", "CN..", "CN1/../x", "CN1?x=1", "CN1#f", "CN%2F", "CNé", "CN" + "a" * 254]
INVALID = [
    None,
    "",
    "cn1",
    "CN",
    " CN1",
    "CN1 ",
    "CN 1",
    "CN\n1",
    "CN\t1",
    "CN\x00",
    "CN\x1b[31m",
    "CN\x7f",
    "CN\u200b",
    "CN\u2028x",
    "CN" + "a" * 255,
    "C" + "N" * 299,
    1,
    1.5,
    {"id": "CN1"},
    ["CN1"],
    b"CN1",
]


@pytest.mark.parametrize("value", VALID)
def test_valid_ids(value):
    assert conversation_id_problem(value) is None
    assert validate_conversation_id(value) == value


@pytest.mark.parametrize("value", INVALID)
def test_invalid_ids_raise_naming_the_value(value):
    assert conversation_id_problem(value)
    with pytest.raises(QuoInvalidConversationIdError) as caught:
        validate_conversation_id(value)
    assert describe_value(value) in str(caught.value)


def test_max_length_is_256():
    assert MAX_CONVERSATION_ID_LENGTH == 256
    assert validate_conversation_id("CN" + "x" * 254)
    assert "longer than 256" in conversation_id_problem("CN" + "x" * 255)


def test_describe_value_truncates_long_values():
    text = describe_value("CN" + "a" * 300)
    assert len(text) <= 60
    assert text.endswith("...(304 chars)")
    assert describe_value("CN1") == "'CN1'"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CN1", ["CN1"]),
        ("  CN1  ", ["CN1"]),
        (["CN1", "CN2"], ["CN1", "CN2"]),
        (("CN1", "CN2"), ["CN1", "CN2"]),
        ({"CN1"}, ["CN1"]),
        (frozenset({"CN1"}), ["CN1"]),
        ((i for i in ["CN1", "CN2"]), ["CN1", "CN2"]),
        (iter(["CN2", "CN1"]), ["CN2", "CN1"]),
        ({"CN1": 1, "CN2": 2}.keys(), ["CN1", "CN2"]),
        ("CN1,CN2", ["CN1", "CN2"]),
        ("CN1, CN2 ,CN3", ["CN1", "CN2", "CN3"]),
        ("CN1 CN2\tCN3\nCN4", ["CN1", "CN2", "CN3", "CN4"]),
        ("CN1,,CN2,", ["CN1", "CN2"]),
        ('["CN1", "CN2"]', ["CN1", "CN2"]),
        ('  ["CN1", " CN2 ", ""]  ', ["CN1", "CN2"]),
        ("['CN1', 'CN2']", ["CN1", "CN2"]),
        (json.dumps(["CN1/x", "CN,2"]), ["CN1/x", "CN,2"]),
        ([" CN1", "CN1 ", "CN1"], ["CN1"]),
        (["CN2", "CN1", "CN2", "CN3", "CN1"], ["CN2", "CN1", "CN3"]),
        ("CN2,CN1,CN2", ["CN2", "CN1"]),
        (["", "  ", "CN1"], ["CN1"]),
    ],
)
def test_parse_accepted_forms(value, expected):
    assert parse_conversation_ids(value) == expected


@pytest.mark.parametrize("value", ["", "   ", ",", " , ,", "[]", "  [ ]", [], (), set(), iter([]), ["", " "]])
def test_parse_empty_inputs_give_empty_list(value):
    assert parse_conversation_ids(value) == []


def test_parse_set_keeps_every_id():
    ids = {f"CN{n}" for n in range(50)}
    assert sorted(parse_conversation_ids(ids)) == sorted(ids)


def test_parse_consumes_generator_once():
    pulled = []

    def ids():
        for n in range(3):
            pulled.append(n)
            yield f"CN{n}"

    assert parse_conversation_ids(ids()) == ["CN0", "CN1", "CN2"]
    assert pulled == [0, 1, 2]


def test_parse_none_rejected():
    with pytest.raises(QuoInvalidConversationIdError, match="is None"):
        parse_conversation_ids(None)


@pytest.mark.parametrize(("value", "type_name"), [(b"CN1", "bytes"), ({"CN1": 1}, "dict"), (5, "int"), (1.0, "float")])
def test_parse_rejects_wrong_container_types(value, type_name):
    with pytest.raises(QuoInvalidConversationIdError, match=f"got {type_name}"):
        parse_conversation_ids(value)


@pytest.mark.parametrize("value", ['["CN1", ', "[CN1, CN2]", "['CN1' 'CN2'", "[1, 2", '["CN1"] trailing'])
def test_parse_malformed_json_string(value):
    with pytest.raises(QuoInvalidConversationIdError, match="does not parse"):
        parse_conversation_ids(value)


@pytest.mark.parametrize("value", ["{}", '{"a": 1}', '"CN1"'])
def test_parse_json_non_list_is_treated_as_text(value):
    with pytest.raises(QuoInvalidConversationIdError, match="invalid conversation id"):
        parse_conversation_ids(value)


def test_parse_python_tuple_literal_is_not_a_list():
    with pytest.raises(QuoInvalidConversationIdError, match="JSON list"):
        parse_conversation_ids("[1] if False else ('CN1',)")


def test_parse_never_evaluates_code():
    with pytest.raises(QuoInvalidConversationIdError):
        parse_conversation_ids("[__import__('os').system('echo pwned')]")


def test_parse_lists_invalid_ids_and_sends_nothing():
    with pytest.raises(QuoInvalidConversationIdError) as caught:
        parse_conversation_ids(["CN1", "cn2", 3, None, "CN 4", "CN"])
    message = str(caught.value)
    assert message.startswith("5 invalid conversation id(s), nothing was sent:")
    for shown in ("'cn2'", "3 (expected a string, got int)", "None", "'CN 4'", "'CN' (needs characters"):
        assert shown in message
    assert "'CN1'" not in message


def test_parse_lists_first_20_and_counts_the_rest():
    bad = [f"bad{n:02d}" for n in range(25)]
    with pytest.raises(QuoInvalidConversationIdError) as caught:
        parse_conversation_ids(["CN1", *bad])
    message = str(caught.value)
    assert message.startswith("25 invalid")
    assert "'bad19'" in message
    assert "'bad20'" not in message
    assert message.endswith(" and 5 more")


def test_parse_exactly_20_bad_has_no_more_suffix():
    with pytest.raises(QuoInvalidConversationIdError) as caught:
        parse_conversation_ids([f"x{n}" for n in range(20)])
    assert "more" not in str(caught.value)


def test_parse_invalid_inside_json_string():
    with pytest.raises(QuoInvalidConversationIdError, match=r"1 invalid.*'XX9'"):
        parse_conversation_ids('["CN1", "XX9"]')


def test_parse_nested_list_rejected():
    with pytest.raises(QuoInvalidConversationIdError, match="expected a string, got list"):
        parse_conversation_ids([["CN1"]])


def test_parse_control_characters_rejected_inside_list():
    with pytest.raises(QuoInvalidConversationIdError, match="control"):
        parse_conversation_ids(["CN1\x00"])


def test_parse_invalid_error_is_a_value_error():
    with pytest.raises(ValueError, match="'nope'"):
        parse_conversation_ids("nope")


# -- an id is never silently rewritten ------------------------------------------------------------

#: Control and separator characters that str.strip() and str.split() treat as whitespace, plus format characters.
NEVER_TRIMMED = ["\x1f", "\x1c", "\x0b", "\x0c", "\x85", "\u00a0", "\u2028", "\u2029", "\u3000", "\u200b", "\ufeff"]


@pytest.mark.parametrize("char", NEVER_TRIMMED)
@pytest.mark.parametrize("where", ["end", "start", "middle"])
@pytest.mark.parametrize("form", ["list", "string", "json"])
def test_control_or_separator_character_makes_the_id_invalid_wherever_it_is(char, where, form):
    bad = {"end": f"CN1{char}", "start": f"{char}CN1", "middle": f"CN{char}1"}[where]
    value = {"list": ["CN2", bad], "string": f"CN2, {bad}", "json": json.dumps(["CN2", bad])}[form]

    with pytest.raises(QuoInvalidConversationIdError) as caught:
        parse_conversation_ids(value)

    assert f"U+{ord(char):04X}" in str(caught.value), "the message names the character"
    assert "1 invalid conversation id(s)" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([" CN1 ", "\tCN2\r\n", "CN3\n"], ["CN1", "CN2", "CN3"]),  # plain ASCII whitespace around an item
        ("\n CN1\r\n\tCN2 ,\n", ["CN1", "CN2"]),  # ...and between ids in a string
        (json.dumps(["  CN1  "]), ["CN1"]),
    ],
)
def test_plain_surrounding_whitespace_is_still_trimmed(value, expected):
    assert parse_conversation_ids(value) == expected


def test_separator_and_control_characters_are_invalid_not_stripped():
    ids, bad = partition_conversation_ids(["CN1\x1f", "CN1\u2028", "CN2"])
    assert ids == ["CN2"]
    assert bad == [
        "'CN1\\x1f' (contains whitespace or control characters (U+001F, a control character, at index 3))",
        "'CN1\\u2028' (contains whitespace or control characters (U+2028, a line separator, at index 3))",
    ]


def test_partition_keeps_order_and_lists_each_bad_entry_once():
    ids, bad = partition_conversation_ids(["CN2", "CN 1", "CN1", "CN2", "CN 1", 7, " "])
    assert ids == ["CN2", "CN1"]
    assert bad == [
        "'CN 1' (contains whitespace or control characters (U+0020, a space, at index 2))",
        "7 (expected a string, got int)",
    ]


@pytest.mark.parametrize("value", [None, {"id": "CN1"}, b"CN1", 5, "[broken"])
def test_partition_still_rejects_what_is_not_a_form_of_ids(value):
    with pytest.raises(QuoInvalidConversationIdError):
        partition_conversation_ids(value)
