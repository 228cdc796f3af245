"""A marking run's progress lines (MarkSummary.log_progress) with a fake clock: when they appear, what they say."""

from __future__ import annotations

from unittest import mock

import pytest

from airflow_provider_quo.operators._summary import MarkSummary, _duration


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Run:
    """A summary of ``total`` ids whose outcomes are recorded up to given counts, and its progress lines."""

    def __init__(self, total: int, interval: float = 10.0) -> None:
        self.clock = FakeClock()
        self.log = mock.MagicMock()
        self.interval = interval
        self.summary = MarkSummary("read", total, clock=self.clock)
        self.sent = 0

    def update(self, done: int, failed: int) -> None:
        """Record outcomes until ``done`` ids have one, ``failed`` of them failures, then maybe log a line."""
        while len(self.summary.failed) < failed:
            self.summary.record(self._next(), RuntimeError("boom"))
        while self.summary.done < done:
            self.summary.record(self._next(), None)
        self.summary.log_progress(self.log, self.interval)

    def _next(self) -> str:
        self.sent += 1
        return f"CN{self.sent}"

    def lines(self) -> list[str]:
        return [c.args[0] % c.args[1:] for c in self.log.info.call_args_list]


def test_no_line_before_the_interval() -> None:
    run = Run(100)
    run.clock.advance(9.999)
    run.update(40, 1)
    assert run.log.info.call_count == 0


def test_line_after_the_interval_with_counts_rate_eta_and_failures() -> None:
    run = Run(100)
    run.clock.advance(10)
    run.update(50, 2)
    assert run.lines() == ["mark-as-read: 50/100 done (50%), 5.0/s, ETA 0m10s, 2 failed so far"]


def test_lines_are_spaced_and_the_rate_is_since_the_last_line() -> None:
    run = Run(100)
    run.clock.advance(10)
    run.update(50, 2)
    run.clock.advance(5)
    run.update(60, 2)  # only 5 s since the last line
    run.clock.advance(5)
    run.update(70, 3)
    assert run.lines()[1:] == ["mark-as-read: 70/100 done (70%), 2.0/s, ETA 0m15s, 3 failed so far"]


def test_the_rate_leaves_out_what_an_earlier_try_settled() -> None:
    run = Run(100)
    for n in range(40):
        run.summary.add(f"CNprior{n}", "marked")  # settled by an earlier try (the checkpoint)
    run.clock.advance(10)
    run.update(50, 0)
    assert run.lines() == ["mark-as-read: 50/100 done (50%), 1.0/s, ETA 0m50s, 0 failed so far"]


def test_no_line_at_completion() -> None:
    run = Run(100)
    run.clock.advance(60)
    run.update(100, 4)
    assert run.log.info.call_count == 0


def test_stalled_run_has_unknown_eta() -> None:
    run = Run(10)
    run.clock.advance(10)
    run.update(0, 0)
    assert run.lines() == ["mark-as-read: 0/10 done (0%), 0.0/s, ETA unknown, 0 failed so far"]


def test_long_eta_uses_hours() -> None:
    run = Run(100_000)
    run.clock.advance(10)
    run.update(10, 0)
    assert run.lines() == ["mark-as-read: 10/100000 done (0%), 1.0/s, ETA 27h46m30s, 0 failed so far"]


def test_percent_is_rounded() -> None:
    run = Run(3)
    run.clock.advance(10)
    run.update(1, 0)
    assert "1/3 done (33%)" in run.lines()[0]


def test_zero_interval_with_a_coarse_clock_does_not_divide_by_zero() -> None:
    run = Run(10, interval=0)
    run.update(1, 0)  # the clock has not moved since the start
    run.update(2, 0)
    run.clock.advance(0.5)
    run.update(3, 0)
    assert run.lines() == ["mark-as-read: 3/10 done (30%), 6.0/s, ETA 0m01s, 0 failed so far"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0m00s"),
        (0.4, "0m00s"),
        (59.4, "0m59s"),
        (59.6, "1m00s"),
        (61, "1m01s"),
        (3599, "59m59s"),
        (3600, "1h00m00s"),
        (3725, "1h02m05s"),
        (90061, "25h01m01s"),
        (-5, "0m00s"),
    ],
)
def test_duration_format(seconds: float, text: str) -> None:
    assert _duration(seconds) == text
