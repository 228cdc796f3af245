"""QuoRetryPolicy's decision for each failure, and how the module behaves on Airflow before 3.3."""

from __future__ import annotations

import pickle
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_quo import retry_policy
from airflow_provider_quo.exceptions import (
    QuoAPIError,
    QuoAuthenticationError,
    QuoBadRequestError,
    QuoBulkMarkError,
    QuoConnectionError,
    QuoError,
    QuoInvalidConversationIdError,
    QuoNotFoundError,
    QuoPermissionError,
    QuoRateLimitError,
    QuoServerError,
    QuoTLSError,
)
from airflow_provider_quo.operators._summary import MarkSummary

needs_33 = pytest.mark.skipif(not retry_policy.RETRY_POLICY_SUPPORTED, reason="retry policies need Airflow 3.3")


def decide(error: BaseException, **policy_kwargs: Any) -> tuple[str, timedelta | None]:
    decision = retry_policy.QuoRetryPolicy(**policy_kwargs).evaluate(error, try_number=1, max_tries=3)
    assert decision.reason or decision.action.value == "default", "a decision names its reason"
    return decision.action.value, decision.retry_delay


def bulk_error(*errors: BaseException, killed: bool = False) -> QuoBulkMarkError:
    """A bulk error whose summary was recorded from ``errors`` (one failed id each) as the operator does."""
    summary = MarkSummary("read", len(errors) + 1, fail_on_not_found=True, keep_marked_ids=True)
    summary.record("CNok", None)
    for n, error in enumerate(errors):
        summary.record(f"CN{n}", error)
    prefix = "Task killed" if killed else "mark-as-read"
    return QuoBulkMarkError(f"{prefix}: {summary.line()}", summary.as_dict(), killed=killed)


PERMANENT = [
    QuoBadRequestError(status=400, title="Bad Request"),
    QuoAuthenticationError(status=401, title="Unauthorized"),
    QuoPermissionError(status=403, title="Not Phone Number User"),
    QuoNotFoundError(status=404, title="Not Found"),
    QuoBadRequestError(status=422, title="Unprocessable Entity"),
    QuoAPIError(status=409, title="Conflict"),
    QuoServerError(status=501, title="Not Implemented"),
]


@needs_33
@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: str(e.status))
def test_api_errors_no_repeat_cures_fail_at_once(error: QuoAPIError) -> None:
    assert decide(error) == ("fail", None)


@needs_33
@pytest.mark.parametrize(
    "error",
    [
        QuoTLSError("certificate verify failed"),
        QuoInvalidConversationIdError("Invalid conversation id 'x'"),
        ValueError("dry_run must be true or false"),
    ],
    ids=["tls", "bad-id", "bad-input"],
)
def test_tls_and_bad_input_fail_at_once(error: BaseException) -> None:
    assert decide(error) == ("fail", None)


@needs_33
def test_long_retry_after_becomes_the_task_retry_delay() -> None:
    assert decide(QuoRateLimitError(status=429, retry_after=900.0)) == ("retry", timedelta(seconds=900))


@needs_33
def test_retry_after_is_capped_at_max_delay_and_never_negative() -> None:
    assert decide(QuoRateLimitError(status=429, retry_after=86_400.0)) == ("retry", timedelta(hours=1))
    capped = decide(QuoRateLimitError(status=429, retry_after=600.0), max_delay=timedelta(minutes=2))
    assert capped == ("retry", timedelta(minutes=2))
    assert decide(QuoRateLimitError(status=429, retry_after=-5.0)) == ("retry", timedelta(0))


@needs_33
def test_a_5xx_with_retry_after_uses_it() -> None:
    error = QuoServerError(status=503, title="Service Unavailable")
    error.retry_after = 120.0  # type: ignore[attr-defined]  # a 503 may carry Retry-After too
    assert decide(error) == ("retry", timedelta(seconds=120))


@needs_33
@pytest.mark.parametrize(
    "error",
    [
        QuoRateLimitError(status=429),
        QuoServerError(status=503, title="Service Unavailable"),
        QuoServerError(status=500, title="Unknown"),
        QuoAPIError(status=408, title="Request Timeout"),
        QuoConnectionError("POST http://127.0.0.1:1/v1/x failed: ConnectionError: refused"),
    ],
    ids=["429", "503", "500", "408", "connection"],
)
def test_transient_errors_retry_after_the_transient_delay(error: BaseException) -> None:
    assert decide(error) == ("retry", None)  # None: the task's own retry_delay
    assert decide(error, transient_delay=timedelta(minutes=5)) == ("retry", timedelta(minutes=5))


@needs_33
def test_bulk_error_retries_if_any_failure_is_transient() -> None:
    error = bulk_error(
        QuoNotFoundError(status=404, title="Not Found"),
        QuoServerError(status=503, title="Service Unavailable"),
    )
    assert decide(error, transient_delay=timedelta(seconds=30)) == ("retry", timedelta(seconds=30))
    dropped = bulk_error(QuoConnectionError("POST http://127.0.0.1:1/x failed: ReadTimeout: timed out"))
    assert decide(dropped) == ("retry", None)


@needs_33
def test_bulk_error_fails_at_once_if_every_failure_is_permanent() -> None:
    error = bulk_error(
        QuoNotFoundError(status=404, title="Not Found"), QuoBadRequestError(status=422, title="Unprocessable")
    )
    assert decide(error) == ("fail", None)


@needs_33
def test_killed_or_empty_bulk_error_keeps_the_tasks_own_handling() -> None:
    assert decide(bulk_error(QuoServerError(status=503), killed=True)) == ("default", None)
    assert decide(QuoBulkMarkError("odd", {"failed": {}})) == ("default", None)


@needs_33
@pytest.mark.parametrize("error", [KeyError("x"), QuoError("page token twice"), RuntimeError("boom")])
def test_other_errors_keep_the_tasks_own_handling(error: BaseException) -> None:
    assert decide(error) == ("default", None)


@needs_33
def test_is_an_airflow_retry_policy_that_round_trips_and_pickles() -> None:
    from airflow.sdk import RetryPolicy

    policy = retry_policy.QuoRetryPolicy(max_delay=timedelta(minutes=10), transient_delay=timedelta(seconds=45))
    assert isinstance(policy, RetryPolicy)
    again = retry_policy.QuoRetryPolicy.deserialize(policy.serialize())
    assert (again.max_delay, again.transient_delay) == (timedelta(minutes=10), timedelta(seconds=45))
    assert repr(pickle.loads(pickle.dumps(policy))) == repr(policy)
    assert retry_policy.retry_policy_kwargs(transient_delay=timedelta(seconds=1))["retry_policy"].transient_delay == (
        timedelta(seconds=1)
    )


@needs_33
def test_negative_delays_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        retry_policy.QuoRetryPolicy(transient_delay=timedelta(seconds=-1))


def test_before_airflow_33_building_the_policy_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs on every Airflow: on 3.1/3.2 as is, on 3.3 with support switched off the way 3.1 lacks it."""
    monkeypatch.setattr(retry_policy, "RETRY_POLICY_SUPPORTED", False)
    with pytest.raises(RuntimeError, match=r"needs Airflow 3\.3 or later.*retry_policy_kwargs"):
        retry_policy.QuoRetryPolicy()
    assert retry_policy.retry_policy_kwargs() == {}
