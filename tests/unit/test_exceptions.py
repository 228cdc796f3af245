"""Typed errors parsed from every error-body shape, their one-line messages and pickling."""

from __future__ import annotations

import json
import pickle

import pytest
import requests
from requests_mock import ANY

from airflow_provider_quo.dispositions import DISPOSITIONS, disposition, status_kind
from airflow_provider_quo.exceptions import (
    BODY_EXCERPT_CHARS,
    CLASS_BY_KIND,
    QuoAPIError,
    QuoAuthenticationError,
    QuoBadRequestError,
    QuoConnectionError,
    QuoError,
    QuoInvalidConversationIdError,
    QuoNotFoundError,
    QuoPermissionError,
    QuoRateLimitError,
    QuoServerError,
    QuoUnexpectedResponseError,
    error_from_response,
    parse_retry_after,
)
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.redaction import MIN_SECRET_LENGTH, scrub

KEY = "test-key-Zq81xQ"
DOCS = "https://quo.com/docs"

DOCUMENTED = {
    400: {
        "message": "Invalid request",
        "code": "1000400",
        "status": 400,
        "docs": DOCS,
        "title": "Bad Request",
        "trace": "tr-400",
        "errors": [
            {
                "path": "/conversationId",
                "message": "Expected string to match '^CN(.*)$'",
                "value": "XX1",
                "schema": {"type": "string"},
            }
        ],
    },
    401: {"message": "Unauthorized", "code": "1000401", "status": 401, "docs": DOCS, "title": "Unauthorized"},
    403: {
        "message": "Not Phone Number User",
        "code": "1001403",
        "status": 403,
        "docs": DOCS,
        "title": "Not Phone Number User",
        "description": "Not Phone Number User",
        "trace": "tr-403",
    },
    404: {"message": "Conversation not found", "code": "1000404", "status": 404, "docs": DOCS, "title": "Not Found"},
    429: {"message": "Rate limit exceeded", "status": 429, "docs": DOCS, "title": "Too Many Requests"},
    500: {"message": "Something went wrong", "code": "1001500", "status": 500, "docs": DOCS, "title": "Unknown"},
}
CLASSES = {
    400: QuoBadRequestError,
    401: QuoAuthenticationError,
    403: QuoPermissionError,
    404: QuoNotFoundError,
    429: QuoRateLimitError,
    500: QuoServerError,
}


@pytest.fixture
def fail(quo_conn, unthrottle, requests_mock):
    """Send one mark-as-read answered by the given mock response; return the raised error."""
    hook = unthrottle(QuoHook(retry_limit=1))  # one attempt: even an error the hook retries is raised as received

    def send(**response: object) -> QuoError:
        requests_mock.post(ANY, **response)
        with pytest.raises(QuoError) as caught:
            hook.mark_conversation_as_read("CN1")
        assert requests_mock.call_count == 1
        return caught.value

    return send


@pytest.mark.parametrize("status", sorted(DOCUMENTED))
def test_documented_bodies(fail, status):
    body = DOCUMENTED[status]
    error = fail(status_code=status, json=body)

    assert type(error) is CLASSES[status]
    assert isinstance(error, QuoAPIError)
    assert error.status == status
    assert error.title == body["title"]
    assert error.message == body["message"]
    assert error.code == body.get("code")
    assert error.trace == body.get("trace")
    assert disposition(error).retry_request is (status in (429, 500))
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"Quo API {status} {body['title']}")
    if body["message"] != body["title"]:
        assert body["message"] in text
    if "trace" in body:
        assert f"(trace {body['trace']})" in text
    assert KEY not in text
    assert KEY not in repr(error)


def test_400_field_errors(fail):
    error = fail(status_code=400, json=DOCUMENTED[400])
    assert error.errors == DOCUMENTED[400]["errors"]
    assert "/conversationId: Expected string to match '^CN(.*)$'" in str(error)


def test_only_first_three_field_errors_in_message(fail):
    errors = [{"path": f"/p{n}", "message": f"bad {n}"} for n in range(5)]
    error = fail(status_code=400, json={"message": "m", "title": "Bad Request", "errors": errors})
    assert len(error.errors) == 5
    assert "/p2: bad 2" in str(error)
    assert "/p3" not in str(error)


def test_non_dict_field_errors_are_dropped(fail):
    error = fail(status_code=400, json={"message": "m", "errors": ["oops", {"path": "/a", "message": "b"}, 3]})
    assert error.errors == [{"path": "/a", "message": "b"}]


def test_auth_and_permission_hints(fail):
    assert "check the API key" in str(fail(status_code=401, json=DOCUMENTED[401]))


def test_permission_hint(fail):
    assert "not a user of this phone number" in str(fail(status_code=403, json=DOCUMENTED[403]))


def test_nested_error_shape(fail):
    body = {"error": {"message": "Conversation not found", "key": "not_found", "trace": "abc123"}}
    error = fail(status_code=404, json=body, reason="Not Found")
    assert type(error) is QuoNotFoundError
    assert (error.message, error.code, error.trace, error.title) == (
        "Conversation not found",
        "not_found",
        "abc123",
        "Not Found",
    )
    assert str(error) == "Quo API 404 Not Found: Conversation not found (trace abc123)"


def test_html_502(fail):
    html = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>" + "x" * 1000 + "</body></html>"
    error = fail(status_code=502, text=html, reason="Bad Gateway", headers={"Content-Type": "text/html"})
    assert type(error) is QuoServerError
    assert error.title == "Bad Gateway"
    assert error.message.startswith("unexpected response body (text/html, 1071 bytes): <html> <head><title>502")
    assert len(error.message) < 300
    assert len(error.message) < BODY_EXCERPT_CHARS + 80
    assert "\n" not in str(error)


def test_empty_503(fail):
    error = fail(status_code=503, content=b"", reason="Service Unavailable")
    assert type(error) is QuoServerError
    assert error.message == "empty response body"
    assert str(error) == "Quo API 503 Service Unavailable: empty response body"


@pytest.mark.parametrize(
    ("title", "message", "expected"),
    [
        ("Unauthorized", "Unauthorized: the key is wrong", "Quo API 401 Unauthorized: the key is wrong"),
        ("Unauthorized", "unauthorized : the key is wrong", "Quo API 401 Unauthorized: the key is wrong"),
        ("Unauthorized", "Unauthorized", "Quo API 401 Unauthorized"),
        ("Unauthorized", "Unauthorized access: no key", "Quo API 401 Unauthorized: Unauthorized access: no key"),
        ("Unauthorized", "Invalid key: Unauthorized", "Quo API 401 Unauthorized: Invalid key: Unauthorized"),
    ],
)
def test_a_title_repeated_at_the_start_of_the_message_is_said_once(title, message, expected):
    assert str(QuoAPIError(status=401, title=title, message=message)) == expected


@pytest.mark.parametrize("body", [b'["a", "b"]', b'"just a string"', b"42", b"null", b"{not json", b"\xff\xfe\x80"])
def test_json_non_object_and_undecodable_bodies(fail, body):
    error = fail(status_code=500, content=body, reason="Internal Server Error")
    assert type(error) is QuoServerError
    assert error.status == 500
    assert error.title == "Internal Server Error"
    assert error.message.startswith("unexpected response body (")
    assert error.errors == []


def test_invalid_utf8_400(fail):
    error = fail(status_code=400, content=b"\xc3\x28 bad \xa0", reason="Bad Request")
    assert type(error) is QuoBadRequestError
    assert "unexpected response body" in error.message


@pytest.mark.parametrize(("status", "cls"), [(418, QuoAPIError), (409, QuoAPIError), (422, QuoBadRequestError)])
def test_other_statuses(fail, status, cls):
    error = fail(status_code=status, json={"message": "nope"})
    assert type(error) is cls
    assert disposition(error).retry_request is False


def test_body_without_title_uses_http_reason(fail):
    error = fail(status_code=404, json={"message": "gone"}, reason="Not Found")
    assert error.title == "Not Found"


def test_non_string_fields_become_strings(fail):
    error = fail(status_code=400, json={"message": 12, "code": 1000400, "trace": 7, "title": "Bad Request"})
    assert (error.message, error.code, error.trace) == ("12", "1000400", "7")


def test_multiline_message_is_one_line(fail):
    error = fail(status_code=500, json={"title": "Unknown", "message": "line one\nline two\r\n\tthree"})
    assert str(error) == "Quo API 500 Unknown: line one line two three"


def test_200_non_json_is_quo_api_error(fail):
    error = fail(status_code=200, text="<html>ok</html>", headers={"Content-Type": "text/html"})
    assert type(error) is QuoUnexpectedResponseError  # a QuoAPIError of its own type, not a bare one
    assert isinstance(error, QuoAPIError)
    assert error.status == 200
    assert "text/html" in error.message
    assert disposition(error).retry_request is False


def test_429_retry_after_on_error(fail):
    error = fail(status_code=429, json=DOCUMENTED[429], headers={"Retry-After": "12"})
    assert error.retry_after == 12.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("5", 5.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("99999999999999999999", 1e12),  # huge: kept huge, the retry wait caps it
        # RFC 9110: delta-seconds is 1*DIGIT; nothing else float() would read
        (" 2.5 ", None),
        ("-3", None),
        ("+3", None),
        ("inf", None),
        ("Infinity", None),
        ("nan", None),
        ("1e9", None),
        ("1_0", None),
        ("٣", None),  # a non-ASCII digit
        ("0x10", None),
        ("tomorrow", None),
        ("Wed, 32 Oct 2015 07:28:10 GMT", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value, expected):
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(
    "error",
    [
        QuoBadRequestError(
            status=400, title="Bad Request", message="m", code="1000400", trace="t", errors=[{"path": "/a"}]
        ),
        QuoAuthenticationError(status=401, title="Unauthorized", message="m"),
        QuoPermissionError(status=403, title="Not Phone Number User", message="m"),
        QuoNotFoundError(status=404, title="Not Found", message="gone", trace="tr"),
        QuoRateLimitError(status=429, title="Too Many", message="slow", retry_after=3.0),
        QuoServerError(status=503, title="Service Unavailable", message="empty response body"),
        QuoAPIError(status=200, title="Invalid response", message="expected JSON"),
    ],
)
def test_api_errors_pickle_round_trip(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert copy.kind == error.kind


@pytest.mark.parametrize(
    "error", [QuoError("x"), QuoConnectionError("GET u failed: ConnectTimeout"), QuoInvalidConversationIdError("bad")]
)
def test_other_errors_pickle_round_trip(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)


def test_hierarchy():
    assert issubclass(QuoInvalidConversationIdError, ValueError)
    for cls in (*CLASSES.values(), QuoConnectionError, QuoInvalidConversationIdError):
        assert issubclass(cls, QuoError)


def test_one_line_without_message_or_title():
    assert str(QuoAPIError(status=418)) == "Quo API 418"
    assert str(QuoAPIError(status=500, title="Unknown", message="Unknown")) == "Quo API 500 Unknown"


@pytest.mark.parametrize(
    "response",
    [
        {"status_code": 401, "json": {"message": f"Invalid API key {KEY}", "title": "Unauthorized"}},
        {"status_code": 400, "json": {"message": "bad", "errors": [{"path": "/h", "message": f"got {KEY}"}]}},
        {"status_code": 502, "text": f"<html>upstream rejected Authorization: {KEY}</html>"},
        {"status_code": 200, "text": f"<html>{KEY}</html>"},
    ],
    ids=["json-message", "field-error", "html-page", "non-json-200"],
)
def test_a_server_echoing_the_key_never_puts_it_in_the_error(fail, response):
    error = fail(**response)
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert KEY not in repr(error.__dict__)
    assert "***" in str(error) or "***" in repr(error.errors)


def test_key_in_reason_phrase_header_or_escaped_json_is_redacted(fail):
    escaped = KEY.replace("-", "\\u002d")  # JSON that spells the key with escapes still decodes to the key
    error = fail(
        status_code=401,
        reason=f"Unauthorized {KEY}",
        text=json.dumps({"message": "bad key PLACEHOLDER"}).replace("PLACEHOLDER", escaped),
        headers={"Content-Type": f"application/json; k={KEY}"},
    )
    assert KEY not in str(error)
    assert KEY not in repr(error.__dict__)


def test_key_in_the_content_type_of_a_non_json_page_is_redacted(fail):
    page = fail(status_code=502, text="<html>oops</html>", headers={"Content-Type": f"text/html; k={KEY}"})
    assert KEY not in str(page)
    assert "text/html; k=***" in str(page)


@pytest.mark.parametrize(("status", "retried"), [(408, True), (500, True), (501, False), (505, False), (511, False)])
def test_which_statuses_are_transient(fail, status, retried):
    assert disposition(fail(status_code=status, json={"message": "x"})).retry_request is retried


def response(status: int, body: bytes, **headers: str) -> requests.Response:
    made = requests.Response()
    made.status_code, made._content, made.reason = status, body, "Reason"
    made.headers.update(headers)
    return made


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 408, 409, 422, 429, 500, 501, 503, 511])
def test_the_class_is_the_kind_s(status: int) -> None:
    error = error_from_response(response(status, b"{}"))
    assert type(error) is CLASS_BY_KIND.get(status_kind(status), QuoAPIError)
    assert error.kind == status_kind(status)
    assert set(CLASS_BY_KIND) <= set(DISPOSITIONS)


def test_any_status_carries_the_server_s_retry_after() -> None:
    assert error_from_response(response(408, b"{}", **{"Retry-After": "3"})).retry_after == 3.0
    assert error_from_response(response(503, b"{}", **{"Retry-After": "4"})).retry_after == 4.0
    assert error_from_response(response(400, b"{}")).retry_after is None


def test_the_body_is_read_as_sent_and_the_key_kept_out_of_the_error_s_text() -> None:
    escaped = json.dumps(KEY)[1:-1].replace("-", "\\u002d")  # the key JSON-escaped: only the parsed text shows it
    body = f'{{"title": "Unauthorized", "message": "bad key {escaped}", "trace": "t-{escaped}"}}'.encode()
    sent = response(401, body)
    error = error_from_response(sent, redact=KEY)
    assert (error.message, error.trace) == ("bad key ***", "t-***")
    assert KEY not in str(error)
    assert sent.content == body, "the response is not rewritten"


def test_a_secret_shorter_than_airflow_s_minimum_is_left_alone() -> None:
    assert MIN_SECRET_LENGTH == 5
    assert scrub("CN1234 abcd", "abcd") == "CN1234 abcd", "a 4-character secret would rewrite ordinary text"
    assert scrub({"m": ["abcde!"]}, "abcde") == {"m": ["***!"]}
