"""What every failure means, in one table: :data:`DISPOSITIONS`.

Every failure decision of the provider is made here and nowhere else. Each kind of failure (an HTTP
status or a family of them, a TLS error, a timeout, a dropped connection, an unexpected success body, bad
input) has one :class:`Disposition`, which every layer reads: the hook (repeat the request? did it spend
the key's budget?), the marking operators (stop the run? how is the id counted?), a resumed retry of a
killed task (send the id again?), the watermark (commit?) and
:class:`~airflow_provider_quo.retry_policy.QuoRetryPolicy` (retry the task?). The summary and the
checkpoint keep each failed id's ``kind`` as data, so rewording an error never changes a decision.

This module imports nothing from the package: an error says its kind (``error.kind``), and the table
says what that kind means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import requests

TaskRetry = Literal["retry", "fail", "default"]
SummaryOutcome = Literal["failed", "not_found", "not_attempted"]

#: Transport failures the hook retries: no response at all, or a response cut off mid-body.
TRANSIENT_TRANSPORT_ERRORS: tuple[type[requests.RequestException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
#: 5xx statuses no repeat can cure: Not Implemented, HTTP Version Not Supported, Network Authentication Required.
PERMANENT_SERVER_STATUSES = (501, 505, 511)


@dataclass(frozen=True)
class Disposition:
    """What one kind of failure means to every layer (see the module docstring).

    :param retry_request: the hook repeats the request.
    :param task_retry: what :class:`~airflow_provider_quo.retry_policy.QuoRetryPolicy` decides.
    :param stops_run: a bulk run sends no further ids after one such outcome (every call would fail alike).
    :param stops_run_if_first: a bulk run stops when its first this-many outcomes are all of this kind (0: never).
    :param summary: how a marking summary counts the id.
    :param commits_watermark: a run whose only failures are of this kind still moves the watermark.
    :param waited_out: retried past the retry limit while the waits stay within the rate-limit budget.
    :param resent_on_resume: a retry of a killed task sends an id that failed so again (see
        :mod:`~airflow_provider_quo.operators.checkpoint`): all but the server's per-id verdicts.
    :param spends_budget: an answer of this kind spent a request of the key's budget (a 429 did not: it
        pauses every user of the key until the window ends, or its ``Retry-After``).
    :param request_attempts: at most this many attempts of one request, the first included (``None``:
        the hook's ``retry_limit``); only read where ``retry_request`` is true.
    """

    retry_request: bool
    task_retry: TaskRetry
    stops_run: bool = False
    stops_run_if_first: int = 0
    summary: SummaryOutcome = "failed"
    commits_watermark: bool = False
    waited_out: bool = False
    resent_on_resume: bool = True
    spends_budget: bool = True
    request_attempts: int | None = None

    @property
    def may_succeed_later(self) -> bool:
        """Whether a later try (of the request or the task) may succeed: what makes
        :class:`~airflow_provider_quo.retry_policy.QuoRetryPolicy` retry a task whose ids failed so."""
        return self.retry_request or self.task_retry != "fail"


_PERMANENT = Disposition(retry_request=False, task_retry="fail", resent_on_resume=False)
_TRANSIENT = Disposition(retry_request=True, task_retry="retry")

#: Every kind of failure and what it means. Keys are :attr:`error.kind <airflow_provider_quo.exceptions.QuoError.kind>`.
DISPOSITIONS: dict[str, Disposition] = {
    # HTTP error statuses
    "400": _PERMANENT,  # 400 and 422: the request is malformed
    "401": Disposition(retry_request=False, task_retry="fail", stops_run=True),  # the key is wrong: all fail alike
    # 403 Not Phone Number User concerns one phone number: it fails that id only, and does not hold the
    # watermark back (marking again cannot help until the account changes). The first 20 outcomes all 403:
    # the key's user may act on none of these numbers, so the run stops.
    "403": Disposition(
        retry_request=False, task_retry="fail", stops_run_if_first=20, commits_watermark=True, resent_on_resume=False
    ),
    "404": Disposition(retry_request=False, task_retry="fail", summary="not_found", resent_on_resume=False),
    "408": _TRANSIENT,
    "429": Disposition(retry_request=True, task_retry="retry", waited_out=True, spends_budget=False),
    "5xx": _TRANSIENT,  # a fault at Quo or a proxy: usually passes
    "5xx_permanent": _PERMANENT,  # 501, 505, 511
    "http_other": _PERMANENT,  # any other status (3xx, 409, ...): repeating it changes nothing
    # answers that are not errors, and no answers at all
    "unexpected_response": _PERMANENT,  # a 2xx whose body does not prove the call: repeating proves no more
    "tls": Disposition(retry_request=False, task_retry="fail", stops_run=True),  # every request would fail alike
    "timeout": _TRANSIENT,
    "connection": _TRANSIENT,  # dropped, reset, DNS
    # Nothing listens at the host and port (a wrong host, say): every request would fail alike, so a few
    # quick attempts (a restarting proxy), then the run stops and the task's own retries decide.
    "connection_refused": Disposition(retry_request=True, task_retry="default", stops_run=True, request_attempts=3),
    "not_sent": Disposition(retry_request=False, task_retry="default", summary="not_attempted"),  # the run stopped
    "bad_input": Disposition(retry_request=False, task_retry="fail"),  # a ValueError: an invalid id or setting
    "other": Disposition(retry_request=False, task_retry="default"),  # anything else: the task's own retries
}
#: The kind of a failure nothing more is known of: an unexpected exception, or a batch that left no summary.
UNKNOWN = "other"


def status_kind(status: int) -> str:
    """The :data:`DISPOSITIONS` key of an HTTP error status.

    :param status: the HTTP status code.
    """
    if status in (400, 422):
        return "400"
    if status >= 500:
        return "5xx_permanent" if status in PERMANENT_SERVER_STATUSES else "5xx"
    return str(status) if status in (401, 403, 404, 408, 429) else "http_other"


def kind_of(error: BaseException) -> str:
    """The :data:`DISPOSITIONS` key of any exception: its ``kind`` if it is one of the provider's errors.

    :param error: what a call raised.
    """
    kind = getattr(error, "kind", None)
    if isinstance(kind, str) and kind in DISPOSITIONS:
        return kind
    if isinstance(error, TRANSIENT_TRANSPORT_ERRORS):
        return "connection"
    return "bad_input" if isinstance(error, ValueError) else UNKNOWN


def disposition(error: BaseException) -> Disposition:
    """What ``error`` means (see :data:`DISPOSITIONS`).

    :param error: what a call raised.
    """
    return DISPOSITIONS[kind_of(error)]
