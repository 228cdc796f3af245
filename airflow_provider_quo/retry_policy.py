"""``QuoRetryPolicy``: decide from the real exception whether a failed Quo task gets another try (Airflow 3.3+).

On Airflow 3.1 and 3.2, which have no retry policies, this module still imports, building a
:class:`QuoRetryPolicy` raises a clear error, and :func:`retry_policy_kwargs` returns ``{}``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_quo.compat import RETRY_POLICY_SUPPORTED, RetryDecision, RetryPolicy
from airflow_provider_quo.dispositions import disposition
from airflow_provider_quo.exceptions import QuoAPIError, QuoBulkMarkError
from airflow_provider_quo.operators._summary import may_succeed_later

if TYPE_CHECKING:
    from airflow.sdk import Context


class QuoRetryPolicy(RetryPolicy):
    """Airflow 3.3 task retry policy for Quo tasks: ``retry_policy=QuoRetryPolicy()``.

    Decisions, each the ``task_retry`` of the error's kind in
    :data:`~airflow_provider_quo.dispositions.DISPOSITIONS` (the task's ``retries`` still caps every retry):

    - 429, or any error retried so with a ``retry_after``: retry after that many seconds (at most
      ``max_delay``).
    - Other transient errors that outlived the hook's retries (``QuoConnectionError``, 408, 5xx but
      501/505/511): retry after ``transient_delay``.
    - ``QuoBulkMarkError``: retry after ``transient_delay`` if any failed id may succeed later (its
      ``kind`` in the summary's ``failed_detail``, read in the table; an id without one counts as such);
      fail at once if every failure was permanent (say 404s with ``on_not_found="fail"``); the task's
      own handling if the run was killed or lists no failures.
    - API errors no repeat cures (400, 401, 403, 404, 422, ...), ``QuoTLSError`` and ``ValueError``
      (bad input, invalid conversation ids): fail at once, without using a retry.
    - Anything else (a refused connection, say): the task's own ``retries`` and ``retry_delay``.

    :param max_delay: the longest delay taken from a ``Retry-After``.
    :param transient_delay: the delay of a retry without ``Retry-After``; ``None`` uses the task's
        ``retry_delay`` (and its exponential backoff, if set).
    :raises RuntimeError: on Airflow before 3.3, which has no retry policies.
    """

    def __init__(self, *, max_delay: timedelta = timedelta(hours=1), transient_delay: timedelta | None = None) -> None:
        if not RETRY_POLICY_SUPPORTED:
            from airflow import __version__ as airflow_version

            raise RuntimeError(
                f"QuoRetryPolicy needs Airflow 3.3 or later (retry_policy=); this is Airflow {airflow_version}. "
                "Use retry_policy_kwargs() to pass it only where it is supported."
            )
        if max_delay < timedelta(0) or (transient_delay is not None and transient_delay < timedelta(0)):
            raise ValueError(f"delays must not be negative, got {max_delay!r} and {transient_delay!r}")
        self.max_delay = max_delay
        self.transient_delay = transient_delay

    def __repr__(self) -> str:
        return f"QuoRetryPolicy(max_delay={self.max_delay!r}, transient_delay={self.transient_delay!r})"

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Context | None = None
    ) -> RetryDecision:
        """The decision for ``exception`` (see the class docstring); Airflow calls it in the worker.

        :param exception: what the task raised.
        :param try_number: the try that failed (1-based).
        :param max_tries: the task's maximum number of tries.
        :param context: the task context (unused).
        """
        if isinstance(exception, QuoBulkMarkError):
            return self._for_bulk_error(exception)
        name = type(exception).__name__
        label = f"Quo API {exception.status} ({name})" if isinstance(exception, QuoAPIError) else name
        task_retry = disposition(exception).task_retry  # the one table of what each error means
        if task_retry == "fail":
            return RetryDecision.fail(f"{label}: a retry would fail alike until the request or account changes")
        if task_retry == "default":
            return RetryDecision.default()
        retry_after: float | None = getattr(exception, "retry_after", None)
        if retry_after is None:
            return RetryDecision.retry(self.transient_delay, f"{label}: still failing after the hook's retries")
        delay = min(timedelta(seconds=max(0.0, retry_after)), self.max_delay)
        return RetryDecision.retry(delay, f"{label}: Retry-After {retry_after:g}s; retrying the task in {delay}")

    def _for_bulk_error(self, error: QuoBulkMarkError) -> RetryDecision:
        failed: dict[str, str] = error.summary.get("failed") or {}
        if error.killed or not failed:
            return RetryDecision.default()
        transient = may_succeed_later(error.summary)  # each failure's kind, carried as data
        if transient:
            example = str(failed.get(transient[0], ""))[:80]
            return RetryDecision.retry(
                self.transient_delay,
                f"{len(transient)} of {len(failed)} failed id(s) may succeed on a retry (e.g. {example})",
            )
        return RetryDecision.fail(f"all {len(failed)} failed id(s) were rejected for good; a retry would repeat them")

    def serialize(self) -> dict[str, Any]:
        """The policy as JSON types (Airflow 3.3 stores only that a task has a policy)."""
        return {
            "__type": "QuoRetryPolicy",
            "max_delay": self.max_delay.total_seconds(),
            "transient_delay": None if self.transient_delay is None else self.transient_delay.total_seconds(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> QuoRetryPolicy:
        """The policy :meth:`serialize` described.

        :param data: a dict from :meth:`serialize`.
        """
        transient = data.get("transient_delay")
        return cls(
            max_delay=timedelta(seconds=data["max_delay"]),
            transient_delay=None if transient is None else timedelta(seconds=transient),
        )


def retry_policy_kwargs(**policy_kwargs: Any) -> dict[str, Any]:
    """``{"retry_policy": QuoRetryPolicy(...)}`` on Airflow 3.3 and later, ``{}`` before: for DAGs that
    run on both (``MarkConversationReadOperator(..., **retry_policy_kwargs())``).

    :param policy_kwargs: keyword arguments of :class:`QuoRetryPolicy`.
    """
    return {"retry_policy": QuoRetryPolicy(**policy_kwargs)} if RETRY_POLICY_SUPPORTED else {}
