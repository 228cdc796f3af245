"""Progress lines for long bulk runs: done/total, current rate, ETA and failures so far."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class ProgressReporter:
    """Logs at most one progress line every ``interval`` seconds while a bulk run goes on.

    :param label: what is being done, e.g. ``"mark-as-read"``.
    :param total: how many items the run has.
    :param log: the logger to write to.
    :param interval: seconds between lines.
    :param done: items already done when the run starts (settled by an earlier try).
    :param clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        label: str,
        total: int,
        log: logging.Logger | Any,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        done: int = 0,
    ) -> None:
        self.label = label
        self.total = total
        self.log = log
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._last_line = self.started
        self._last_done = done

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return self.clock() - self.started

    def update(self, done: int, failed: int) -> None:
        """Log a line if ``interval`` has passed since the last one.

        :param done: items finished so far (any outcome).
        :param failed: items failed so far.
        """
        now = self.clock()
        if now - self._last_line < self.interval or now <= self._last_line or done >= self.total:
            return
        rate = (done - self._last_done) / (now - self._last_line)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        self.log.info(
            "%s: %d/%d done (%.0f%%), %.1f/s, ETA %s, %d failed so far",
            self.label,
            done,
            self.total,
            100.0 * done / self.total,
            rate,
            _duration(eta) if eta != float("inf") else "unknown",
            failed,
        )
        self._last_line, self._last_done = now, done
