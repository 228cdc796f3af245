"""The simulator's admin endpoints and CLI clock options, through a real server on 127.0.0.1.

With them a simulator started from the command line lives while a user's own Airflow cleans it up:
its clock starts in the past (Airflow refuses logical dates in the future), days of activity are
played on request, and ``/_simulator/unread`` says what a cleanup must still mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from airflow_provider_quo.testing import QuoSimulator
from airflow_provider_quo.testing.__main__ import build_parser, simulator_from_args
from airflow_provider_quo.testing.admin import ActivityRates, parse_duration, parse_start

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
KEY = "test-key"
TICK = timedelta(seconds=30)  # the clock goes on in real time: bounds allow for a slow machine


@pytest.fixture
def sim() -> Iterator[QuoSimulator]:
    rates = ActivityRates(active_fraction=0.05, new_conversations=4, snooze_fraction=0.01)
    with QuoSimulator(api_key=KEY, conversations=400, seed=11, now=START, activity=rates) as simulator:
        yield simulator


def admin(sim: QuoSimulator, method: str, path: str, **params: Any) -> requests.Response:
    return requests.request(method, f"{sim.base_url}/_simulator/{path}", params=params, timeout=10)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_played_day_moves_the_clock_and_follows_the_rates(sim: QuoSimulator) -> None:
    live = len(sim.conversation_ids(deleted=False))
    before = set(sim.conversation_ids())

    response = admin(sim, "POST", "activity")

    assert response.status_code == 200, response.text
    day = response.json()
    assert day["days"] == 1
    assert (day["messages"], day["new_conversations"], day["snoozes"]) == (round(live * 0.05), 4, round(live * 0.01))
    assert instant(day["to"]) - instant(day["from"]) >= timedelta(days=1)
    assert instant(day["to"]) - START < timedelta(days=1) + TICK
    assert len(set(sim.conversation_ids()) - before) == 4
    assert sim.requests == [], "admin requests are not API requests: not recorded"


def test_a_day_played_over_real_time_keeps_the_clock_on_the_wall_clock_so_runs_started_now_see_it() -> None:
    """``over``: the day's events fall in the next moments of real time; nothing runs ahead of the wall clock."""
    with QuoSimulator(api_key=KEY, conversations=100, seed=3) as sim:  # the clock starts on the wall clock
        sim.read_in_app(sim.stale_unread_ids(30))
        assert sim.stale_unread_ids(30, at=datetime.now(timezone.utc)) == set()
        played = admin(
            sim, "POST", "activity", over="PT0.3S", snooze_fraction=1, active_fraction=0, new_conversations=0
        ).json()

        assert abs(instant(played["clock"]) - datetime.now(timezone.utc)) < TICK, "the clock did not jump"
        assert instant(played["to"]) - instant(played["from"]) == timedelta(seconds=0.3)
        assert played["snoozes"] == len(sim.conversation_ids(deleted=False))
        ended = instant(played["to"]) + timedelta(seconds=0.3)  # every snooze (at most as long as ``over``) is over
        back = sim.stale_unread_ids(30, at=ended)
        assert back, "a run started then sees the idle conversations whose snooze ended"
        assert admin(sim, "POST", "activity", over="0").status_code == 400


def test_several_days_and_per_request_rates(sim: QuoSimulator) -> None:
    played = admin(sim, "POST", "activity", days=3, new_conversations=0, active_fraction=0, snooze_fraction=0).json()
    assert (played["days"], played["messages"], played["new_conversations"], played["snoozes"]) == (3, 0, 0, 0)
    assert timedelta(days=3) <= sim.now() - START < timedelta(days=3) + TICK


def test_unread_counts_what_a_cleanup_must_mark_and_a_marking_clears_it(sim: QuoSimulator) -> None:
    counts = admin(sim, "GET", "unread", older_than_days=30).json()
    stale = sim.stale_unread_ids(30)
    assert counts["stale_unread"] == len(stale) > 0
    assert counts["unread"] == len(sim.unread_ids()) >= counts["stale_unread"]
    for conversation_id in stale:
        url = f"{sim.base_url}/v1/conversations/{conversation_id}/mark-as-read"
        assert requests.post(url, headers={"Authorization": KEY}, timeout=5).status_code == 200
    assert admin(sim, "GET", "unread", older_than_days=30).json()["stale_unread"] == 0
    admin(sim, "POST", "activity", days=2)
    assert admin(sim, "GET", "unread", older_than_days=30).json()["stale_unread"] > 0, "two more days went stale"


def test_the_clock_can_be_read_set_and_advanced(sim: QuoSimulator) -> None:
    assert instant(admin(sim, "GET", "clock").json()["now"]) - START < TICK
    moved = admin(sim, "POST", "clock", advance="P1DT12H").json()["now"]
    assert timedelta(days=1.5) <= instant(moved) - START < timedelta(days=1.5) + TICK
    assert instant(admin(sim, "POST", "clock", advance="3600").json()["now"]) >= instant(moved) + timedelta(hours=1)
    assert (
        instant(admin(sim, "POST", "clock", now="2026-12-01").json()["now"])
        - datetime(2026, 12, 1, tzinfo=timezone.utc)
        < TICK
    )


@pytest.mark.parametrize(
    ("method", "path", "params", "named"),
    [
        ("POST", "activity", {"days": "0"}, "days"),
        ("POST", "activity", {"days": "two"}, "'two'"),
        ("POST", "activity", {"active_fraction": "1.5"}, "active_fraction"),
        ("POST", "activity", {"new_conversations": "-1"}, "new_conversations"),
        ("POST", "activity", {"dayz": "1"}, "dayz"),
        ("POST", "clock", {"advance": "-P1D"}, "forward"),
        ("POST", "clock", {"advance": "soon"}, "'soon'"),
        ("POST", "clock", {}, "exactly one"),
        ("POST", "clock", {"now": "2026-11-02", "advance": "P1D"}, "exactly one"),
        ("GET", "unread", {"older_than_days": "-3"}, "older_than_days"),
    ],
)
def test_bad_admin_parameters_are_a_400_naming_them_and_change_nothing(
    sim: QuoSimulator, method: str, path: str, params: dict[str, str], named: str
) -> None:
    ids = sim.conversation_ids()
    response = admin(sim, method, path, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Bad Request"
    assert named in body["message"]
    assert sim.conversation_ids() == ids
    assert sim.now() - START < TICK


def test_other_methods_on_admin_paths_are_not_admin_requests(sim: QuoSimulator) -> None:
    assert admin(sim, "GET", "activity").status_code == 404
    assert sim.now() - START < TICK


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1D", timedelta(days=1)),
        ("-P7D", timedelta(days=-7)),
        ("PT36H", timedelta(hours=36)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("pt90s", timedelta(seconds=90)),
        ("86400", timedelta(days=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "1 day", "P1W", ""])
def test_bad_durations_name_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO 8601 duration"):
        parse_duration(text)


def test_the_cli_clock_starts_at_an_instant_a_date_or_a_duration_ago() -> None:
    real_now = datetime(2026, 12, 3, 15, 30, tzinfo=timezone.utc)
    assert parse_start("2026-11-01", real_now) == START
    assert parse_start("2026-11-01T09:00:00+01:00", real_now) == START + timedelta(hours=8)
    assert parse_start("-P7D", real_now) == real_now - timedelta(days=7)
    with pytest.raises(ValueError, match=r"'yesterday' is not an instant .* or a duration from now \(-P7D\)"):
        parse_start("yesterday", real_now)


def test_the_cli_options_reach_the_running_simulator() -> None:
    args = build_parser().parse_args(
        ["--port", "0", "--conversations", "100", "--start=-P10D", "--new-per-day", "7", "--active-fraction", "0"]
    )
    with simulator_from_args(args) as sim:
        assert abs(sim.now() - (datetime.now(timezone.utc) - timedelta(days=10))) < TICK
        day = admin(sim, "POST", "activity").json()
        assert (day["new_conversations"], day["messages"]) == (7, 0)
        assert len(sim.conversation_ids()) == 107
    assert build_parser().parse_args(["--now", "2026-11-01"]).now == "2026-11-01", "--now is the same option"
