"""ProgressReporter with a fake clock: when lines appear and what they say."""

from __future__ import annotations

from unittest import mock

import pytest

from airflow_provider_quo.operators._progress import ProgressReporter, _duration


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def reporter(total: int, interval: float = 10.0) -> tuple[ProgressReporter, FakeClock, mock.MagicMock]:
    clock = FakeClock()
    log = mock.MagicMock()
    return ProgressReporter("mark-as-read", total, log, interval=interval, clock=clock), clock, log


def lines(log: mock.MagicMock) -> list[str]:
    return [c.args[0] % c.args[1:] for c in log.info.call_args_list]


def test_no_line_before_the_interval() -> None:
    progress, clock, log = reporter(100)
    clock.advance(9.999)
    progress.update(40, 1)
    assert log.info.call_count == 0


def test_line_after_the_interval_with_counts_rate_eta_and_failures() -> None:
    progress, clock, log = reporter(100)
    clock.advance(10)
    progress.update(50, 2)
    assert lines(log) == ["mark-as-read: 50/100 done (50%), 5.0/s, ETA 0m10s, 2 failed so far"]


def test_lines_are_spaced_and_the_rate_is_since_the_last_line() -> None:
    progress, clock, log = reporter(100)
    clock.advance(10)
    progress.update(50, 2)
    clock.advance(5)
    progress.update(60, 2)  # only 5 s since the last line
    clock.advance(5)
    progress.update(70, 3)
    assert lines(log)[1:] == ["mark-as-read: 70/100 done (70%), 2.0/s, ETA 0m15s, 3 failed so far"]


def test_no_line_at_completion() -> None:
    progress, clock, log = reporter(100)
    clock.advance(60)
    progress.update(100, 4)
    progress.update(101, 4)
    assert log.info.call_count == 0


def test_stalled_run_has_unknown_eta() -> None:
    progress, clock, log = reporter(10)
    clock.advance(10)
    progress.update(0, 0)
    assert lines(log) == ["mark-as-read: 0/10 done (0%), 0.0/s, ETA unknown, 0 failed so far"]


def test_long_eta_uses_hours() -> None:
    progress, clock, log = reporter(100_000)
    clock.advance(10)
    progress.update(10, 0)
    assert lines(log) == ["mark-as-read: 10/100000 done (0%), 1.0/s, ETA 27h46m30s, 0 failed so far"]


def test_percent_is_rounded() -> None:
    progress, clock, log = reporter(3)
    clock.advance(10)
    progress.update(1, 0)
    assert "1/3 done (33%)" in lines(log)[0]


def test_zero_interval_with_a_coarse_clock_does_not_divide_by_zero() -> None:
    progress, clock, log = reporter(10, interval=0)
    progress.update(1, 0)  # the clock has not moved since the start
    progress.update(2, 0)
    clock.advance(0.5)
    progress.update(3, 0)
    assert lines(log) == ["mark-as-read: 3/10 done (30%), 6.0/s, ETA 0m01s, 0 failed so far"]


def test_elapsed_follows_the_clock() -> None:
    progress, clock, _ = reporter(10)
    assert progress.elapsed() == 0
    clock.advance(42.5)
    assert progress.elapsed() == 42.5


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
