"""How one Quo request is retried inside the hook: what is retried, how long to wait, how each retry is logged.

(What a failed *task* does next is :class:`~airflow_provider_quo.retry_policy.QuoRetryPolicy`; what each
failure means to both is :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`.)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import tenacity
from tenacity import RetryCallState

from airflow_provider_quo.dispositions import disposition
from airflow_provider_quo.exceptions import QuoAPIError
from airflow_provider_quo.hooks.http import MAX_RETRY_AFTER

log = logging.getLogger(__name__)

#: Upper bound of the exponential backoff between attempts, in seconds.
MAX_BACKOFF = 30.0
#: Give up retrying one request after this many seconds in total.
MAX_RETRY_SECONDS = 300.0
#: 429s are retried past ``retry_limit`` attempts until the waits between attempts add up to this.
RATE_LIMIT_WAIT_SECONDS = 60.0

_BACKOFF = tenacity.wait_random_exponential(multiplier=0.5, max=MAX_BACKOFF)


def wait_between_attempts(seconds: float, stop: threading.Event | None) -> None:
    """Wait ``seconds`` before the next attempt, or less if the bulk run's ``stop`` is set meanwhile."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


def retries_request(error: BaseException) -> bool:
    """Whether the hook repeats a failed attempt (network errors, timeouts, 408, 429 and 5xx): the
    ``retry_request`` of its :data:`~airflow_provider_quo.dispositions.DISPOSITIONS` row."""
    return disposition(error).retry_request


def wait_before_retry(retry_state: RetryCallState) -> float:
    """What a 429's or 5xx's ``Retry-After`` asks, capped at :data:`~airflow_provider_quo.hooks.http.MAX_RETRY_AFTER`
    (as the key's pause is); without one, exponential backoff with full jitter from 0.5 s up to :data:`MAX_BACKOFF`.
    """
    outcome = retry_state.outcome
    retry_after: float | None = getattr(outcome.exception() if outcome else None, "retry_after", None)
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    return float(_BACKOFF(retry_state))


class StopRetrying(tenacity.stop.stop_base):
    """When to give up: after ``retry_limit`` attempts, except that a request answered 429 is retried
    further until the waits add up to :data:`RATE_LIMIT_WAIT_SECONDS` (so a short 429 storm is waited out, not
    counted); after ``max_retry_seconds`` in all; at once when the run's ``stop`` is set.

    One instance per request: it counts that request's 429s.

    :param retry_limit: attempts, the first included (1: no retry at all).
    :param max_retry_seconds: time budget since the first attempt.
    :param stop: the bulk run's stop event, if any.
    """

    def __init__(
        self, retry_limit: int, max_retry_seconds: float = MAX_RETRY_SECONDS, stop: threading.Event | None = None
    ) -> None:
        self.retry_limit = retry_limit
        self.max_retry_seconds = max_retry_seconds
        self.stop = stop
        self.rate_limited = 0

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        kind = disposition(error) if error is not None else None
        self.rate_limited += 1 if kind is not None and kind.waited_out else 0
        if self.retry_limit <= 1 or (self.stop is not None and self.stop.is_set()):
            return True
        if kind is not None and kind.request_attempts and retry_state.attempt_number >= kind.request_attempts:
            return True  # this kind's own limit (a refused connection: a few quick attempts)
        if (retry_state.seconds_since_start or 0.0) >= self.max_retry_seconds:
            return True
        if retry_state.attempt_number - self.rate_limited >= self.retry_limit:
            return True  # that many attempts failed other than with a 429
        return retry_state.attempt_number >= self.retry_limit and retry_state.idle_for >= RATE_LIMIT_WAIT_SECONDS


def log_retry(retry_state: RetryCallState) -> None:
    """Log one warning per retry with what failed, the wait and the attempt number."""
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    reason = f"HTTP {error.status}" if isinstance(error, QuoAPIError) else type(error).__name__
    wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
    log.warning(
        "Quo request failed (%s: %s); retrying in %.2fs (attempt %d)",
        reason,
        error,
        wait,
        retry_state.attempt_number + 1,
    )


def build_retrying(
    *, retry_limit: int, overrides: dict[str, Any] | None = None, stop: threading.Event | None = None
) -> tenacity.Retrying:
    """The hook's :class:`tenacity.Retrying` for one request: :class:`StopRetrying` with ``retry_limit`` and
    ``stop`` (no retry starts once it is set, and a wait under way ends), keywords in ``overrides`` replacing
    any default."""
    kwargs: dict[str, Any] = {
        "retry": tenacity.retry_if_exception(retries_request),
        "wait": wait_before_retry,
        "stop": StopRetrying(retry_limit, stop=stop),
        "before_sleep": log_retry,
        "sleep": lambda seconds: wait_between_attempts(seconds, stop),
        "reraise": True,
    }
    kwargs.update(overrides or {})
    return tenacity.Retrying(**kwargs)
