"""One attempt of a :class:`~airflow_provider_quo.hooks.quo.QuoHook` request: its throttle slot, the
response read within its deadline, the key's budget as the server states it, and a 429's back-off."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import requests

from airflow_provider_quo.dispositions import disposition
from airflow_provider_quo.exceptions import QuoError, error_from_response
from airflow_provider_quo.hooks.ratelimit_headers import read_rate_limit
from airflow_provider_quo.hooks.request_retries import DEFAULT_MAX_RETRY_AFTER
from airflow_provider_quo.hooks.responses import json_object
from airflow_provider_quo.hooks.transport import read_body, transport_error

if TYPE_CHECKING:
    from airflow_provider_quo.hooks.quo import QuoHook
    from airflow_provider_quo.hooks.throttles import Throttle


def send_once(
    hook: QuoHook,
    method: str,
    url: str,
    params: Sequence[tuple[str, str]] | None,
    timeout: tuple[float, float],
    stop: threading.Event | None = None,
) -> Any:
    """Send one request through ``hook``'s session once its throttle allows; return the decoded JSON body.

    :param hook: the hook whose session, throttle and key are used.
    :param method: HTTP method.
    :param url: the full URL.
    :param params: query parameters as pairs.
    :param timeout: ``(connect, read)`` timeouts; their sum is the attempt's total deadline.
    :param stop: a bulk run's stop event (see :meth:`~airflow_provider_quo.hooks.quo.QuoHook.request`).
    """
    hook.rate_limiter.acquire(stop)
    label = f"{method} {url}"
    deadline = time.monotonic() + sum(timeout)  # the attempt's total deadline: connect + read timeouts
    try:
        response = hook.session.request(method, url, params=params, timeout=timeout, allow_redirects=False, stream=True)
    except requests.RequestException as error:
        # No chained cause: requests' exceptions hold the prepared request, Authorization header included.
        raise transport_error(error, label, url) from None
    failed = response.status_code >= 300  # a redirect would turn a POST into a GET: treat it as an error
    read_body(response, label=label, deadline=deadline, read_timeout=timeout[1], truncate=failed)
    stated = read_rate_limit(response.headers)  # the key's budget as the server states it, if it does
    if stated is not None:
        hook.rate_limiter.observe(stated, counted=response.status_code != 429)
    if failed:
        api_error = error_from_response(response, redact=hook.settings.api_key)
        if disposition(api_error).slows_key:  # a 429
            back_off(hook.rate_limiter, api_error, explained=stated is not None and stated.window_spent)
        raise api_error
    return json_object(response, redact=hook.settings.api_key)


def back_off(throttle: Throttle, error: QuoError, *, explained: bool) -> None:
    """Hold the key back after a 429: for its ``Retry-After``, and, unless the server's own statement
    explains it (the window is spent; :meth:`~.throttles.Throttle.observe` already paused the key until
    it resets), for five slots while every user of the key slows down, recovering gradually.

    :param throttle: the key's throttle.
    :param error: the 429.
    :param explained: whether the response stated the window spent and when it resets.
    """
    retry_after = getattr(error, "retry_after", None)
    if explained:
        if retry_after:
            throttle.pause(min(retry_after, DEFAULT_MAX_RETRY_AFTER))
        return
    pause = retry_after or throttle.interval * 5
    throttle.pause(min(pause, DEFAULT_MAX_RETRY_AFTER))  # the same cap as the retry wait
    throttle.slow_down()
