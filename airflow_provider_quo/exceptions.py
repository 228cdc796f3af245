"""Typed errors for the Quo API, parsed from every error-body shape Quo is known to send.

Each error names its :attr:`~QuoError.kind`; what that kind means (retried? stops the run? commits the
watermark? retries the task?) is in one table, :data:`airflow_provider_quo.dispositions.DISPOSITIONS`.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import requests

from airflow_provider_quo.dispositions import status_kind
from airflow_provider_quo.redaction import scrub

#: Characters of a non-JSON body kept in an error message (proxy HTML pages can be large).
BODY_EXCERPT_CHARS = 200
#: Longest error line; longer ones (an oversized JSON ``message``, say) are cut, keeping the trace.
MAX_ERROR_LINE_CHARS = 500


class QuoError(Exception):
    """Base class of every error raised by this provider."""

    _kind: ClassVar[str] = "other"

    @property
    def kind(self) -> str:
        """This failure's key in :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`."""
        return self._kind


class QuoInvalidConversationIdError(QuoError, ValueError):
    """A conversation id that the API would reject (raised before any request is sent)."""

    _kind = "bad_input"


class QuoBulkMarkError(QuoError):
    """A marking operator finished with failures; ``summary`` holds the run's whole summary.

    :param message: the one-line reason, with the counts.
    :param summary: the operator's summary (as stored in XCom, under ``return_value``).
    :param killed: the task was killed mid-run (its ids not sent are not failures of their own).
    """

    def __init__(self, message: str, summary: dict[str, Any], *, killed: bool = False) -> None:
        super().__init__(message)
        self.summary = summary
        self.killed = killed


class QuoTLSError(QuoError):
    """TLS failed (e.g. certificate verification): every request to this host would fail alike."""

    _kind = "tls"


class QuoNotSentError(QuoError):
    """The run stopped (a 401, a fatal error, a killed task) while this request waited for its turn.

    Nothing was sent for it.
    """

    _kind = "not_sent"


class QuoConnectionError(QuoError):
    """The request never got a whole HTTP response: connection dropped, DNS, refused or a timeout (subclasses)."""

    _kind = "connection"


class QuoConnectionRefusedError(QuoConnectionError):
    """Nothing listens at the host and port (a wrong host or port in the connection, say)."""

    _kind = "connection_refused"


class QuoTimeoutError(QuoConnectionError):
    """An attempt timed out: connecting, waiting for the headers, reading the body, or past its total deadline."""

    _kind = "timeout"


class QuoAPIError(QuoError):
    """An HTTP error response from the Quo API.

    :param status: HTTP status code.
    :param title: short title (``"Not Found"``) from the body, or the HTTP reason.
    :param message: the human-readable message from the body.
    :param code: Quo's error code (``"1000404"``), if any.
    :param trace: Quo's request trace id, for Quo support, if any.
    :param errors: field errors (``[{"path", "message", ...}]``) from a 400, if any.
    :param retry_after: seconds the server asked to wait (``Retry-After``, e.g. on a 429 or 503), if it said.
    """

    def __init__(
        self,
        *,
        status: int,
        title: str = "",
        message: str = "",
        code: str | None = None,
        trace: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.title = title
        self.message = message
        self.code = code
        self.trace = trace
        self.errors = errors or []
        super().__init__(self._one_line())

    def _one_line(self) -> str:
        text = f"Quo API {self.status} {self.title}".rstrip()
        details = [_without_title(self.message, self.title)]
        details += [f"{e.get('path', '')}: {e.get('message', '')}" for e in self.errors[:3]]
        detail = "; ".join(d for d in details if d and d != self.title)
        if detail:
            text += f": {detail}"
        text = " ".join(text.split())
        if len(text) > MAX_ERROR_LINE_CHARS:
            text = f"{text[: MAX_ERROR_LINE_CHARS - 30]}...({len(text)} chars)"
        if self.trace:
            text += f" (trace {' '.join(str(self.trace).split())[:100]})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:  # keep errors picklable across process boundaries
        return (_rebuild, (type(self), self.__dict__.copy()))

    @property
    def kind(self) -> str:
        """This status's key in :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`."""
        return status_kind(self.status)


def _without_title(message: str, title: str) -> str:
    """``message`` without a leading copy of ``title`` (``"Unauthorized: bad key"`` -> ``"bad key"``), so the
    one-line error never reads ``401 Unauthorized: Unauthorized: ...``."""
    head, separator, rest = message.partition(":")
    if title and separator and head.strip().casefold() == title.strip().casefold():
        return rest.strip()
    return message


class QuoUnexpectedResponseError(QuoAPIError):
    """A success status whose body is not what the endpoint returns: not a JSON object, larger than the
    body cap, a listing page without a ``data`` list, or a marked conversation with another id (or none).
    Not retried: the server answered, and repeating the request would not prove anything more."""

    @property
    def kind(self) -> str:
        return "unexpected_response"


def _rebuild(cls: type[QuoAPIError], state: dict[str, Any]) -> QuoAPIError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._one_line())
    return error


class QuoBadRequestError(QuoAPIError):
    """400 (and 422): the request is malformed; repeating it cannot succeed."""


class QuoAuthenticationError(QuoAPIError):
    """401: the API key is missing, wrong or revoked."""

    def _one_line(self) -> str:
        return f"{super()._one_line()}: check the API key (the connection's password)"


class QuoPermissionError(QuoAPIError):
    """403: the key's user may not act on this phone number."""

    def _one_line(self) -> str:
        return f"{super()._one_line()}: the key's user is not a user of this phone number"


class QuoNotFoundError(QuoAPIError):
    """404: the conversation was deleted or belongs to another workspace."""


class QuoRateLimitError(QuoAPIError):
    """429: the per-key rate limit was exceeded (``retry_after``: the server's ``Retry-After``, if it said)."""


class QuoServerError(QuoAPIError):
    """5xx: a fault at Quo or a proxy in front of it; usually transient (501, 505 and 511 are not)."""


#: The error class of each HTTP kind (:func:`~airflow_provider_quo.dispositions.status_kind`); others are
#: plain :class:`QuoAPIError`.
CLASS_BY_KIND: dict[str, type[QuoAPIError]] = {
    "400": QuoBadRequestError,
    "401": QuoAuthenticationError,
    "403": QuoPermissionError,
    "404": QuoNotFoundError,
    "429": QuoRateLimitError,
    "5xx": QuoServerError,
    "5xx_permanent": QuoServerError,
}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, per RFC 9110: delta-seconds (ASCII digits only) or an
    HTTP-date; ``None`` if absent or anything else (``inf``, ``nan``, ``1e9``, ``1_0``, ``-5``, ``1.5``)."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        return float(int(value)) if len(value) <= 12 else 1e12  # a huge delay stays huge (and is then capped)
    if not value or not value[0].isalpha():  # an HTTP-date starts with a day name
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _body_fields(content: bytes) -> dict[str, Any]:
    """The error fields of any known body shape; empty for empty or non-JSON bodies."""
    try:
        body = json.loads(content or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    if not isinstance(body, dict):
        return {}
    nested = body.get("error")
    if isinstance(nested, dict):  # {"error": {"message", "key", "trace"}}
        return {"message": nested.get("message"), "code": nested.get("key"), "trace": nested.get("trace")}
    return body


def describe_body(response: requests.Response, *, redact: str | None = None) -> str:
    """A short description of a body that is not the expected JSON object, with an excerpt.

    :param response: the response.
    :param redact: a secret to replace by ``***`` in the excerpt.
    """
    raw = scrub(response.content or b"", redact)
    if not raw.strip():
        return "empty response body"
    excerpt = " ".join(raw[: BODY_EXCERPT_CHARS * 4].decode("utf-8", "replace")[:BODY_EXCERPT_CHARS].split())
    kind = response.headers.get("Content-Type") or "no content type"
    return str(scrub(f"unexpected response body ({kind}, {len(raw)} bytes): {excerpt}", redact))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def error_from_response(response: requests.Response, *, redact: str | None = None) -> QuoAPIError:
    """Build the typed error for an HTTP error response, whatever its body looks like.

    :param response: a response with status >= 300.
    :param redact: a secret (the API key) to replace by ``***`` in the error's text (the body is parsed as sent).
    """
    status = response.status_code
    fields = _body_fields(response.content or b"")
    message = _text(fields.get("message"))
    if message is None and not fields:
        message = describe_body(response, redact=redact)
    errors = fields.get("errors")
    kwargs: dict[str, Any] = {
        "status": status,
        "title": _text(fields.get("title")) or response.reason or "",
        "message": message or "",
        "code": _text(fields.get("code")),
        "trace": _text(fields.get("trace")),
        "errors": [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else None,
    }
    kwargs = {name: scrub(value, redact) for name, value in kwargs.items()}  # the text built, never the body
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return CLASS_BY_KIND.get(status_kind(status), QuoAPIError)(retry_after=retry_after, **kwargs)
