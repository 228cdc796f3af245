"""The simulator's admin endpoints under ``/_simulator/``: play days of activity, move the clock, count unread.

They let a simulator started from the command line live while a user's own Airflow cleans it up.
Like ``GET /_simulator/stats`` they are no API requests: no auth, not recorded, not rate limited.
Parameters go in the query string (``curl -X POST 'http://127.0.0.1:8765/_simulator/activity?days=2'``);
a bad one is a ``400`` with the documented error body naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from airflow_provider_quo.testing.bodies import Response, error_response, json_response
from airflow_provider_quo.testing.data import parse_datetime, utc
from airflow_provider_quo.testing.living import LivingWorkspace

ACTIVITY_PATH = "/_simulator/activity"
CLOCK_PATH = "/_simulator/clock"
UNREAD_PATH = "/_simulator/unread"
#: The most simulated days one ``POST /_simulator/activity`` plays.
MAX_DAYS = 366
_DURATION = re.compile(
    r"(?P<sign>[-+]?)P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ActivityRates:
    """What one simulated day brings, unless ``POST /_simulator/activity`` says otherwise.

    :param active_fraction: share (0-1) of the live conversations that receive a message each day.
    :param new_conversations: conversations that start each day.
    :param snooze_fraction: share (0-1) of the live conversations someone snoozes each day.
    """

    active_fraction: float = 0.02
    new_conversations: int = 3
    snooze_fraction: float = 0.005


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration of days and time (``P1D``, ``-P7D``, ``PT36H``, ``P1DT12H``) or a number of seconds.

    :param text: the value.
    :raises ValueError: naming the value, if it is neither.
    """
    value = text.strip()
    match = _DURATION.fullmatch(value)
    if match and any(match.group(name) for name in ("days", "hours", "minutes", "seconds")):
        parts = {name: float(match.group(name) or 0) for name in ("days", "hours", "minutes", "seconds")}
        return timedelta(**parts) * (-1 if match.group("sign") == "-" else 1)
    try:
        return timedelta(seconds=float(value))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 duration (P1D, -P7D, PT36H) or seconds") from None


def parse_start(text: str, real_now: datetime) -> datetime:
    """Where the clock starts: an instant (``2026-11-01T09:00:00Z``), a date (``2026-11-01``: midnight UTC),
    or a duration from the real time (``-P7D``: a week ago).

    :param text: the value.
    :param real_now: the real time, for a duration.
    :raises ValueError: naming the value, if it is none of these.
    """
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
            return parse_datetime(value + "T00:00:00Z") or real_now
        if value[:1] in "+-Pp" and value:
            return utc(real_now + parse_duration(value))
        return parse_datetime(value) or real_now
    except ValueError:
        raise ValueError(
            f"{text!r} is not an instant (2026-11-01T09:00:00Z), a date (2026-11-01) or a duration from now (-P7D)"
        ) from None


class AdminRoutes:
    """Answers the admin endpoints of one simulator (thread-safe through the workspace's store).

    :param workspace: the living workspace (the simulator): its clock, its activity, what is unread.
    :param rates: what ``POST /_simulator/activity`` plays per simulated day by default.
    """

    def __init__(self, workspace: LivingWorkspace, rates: ActivityRates | None = None) -> None:
        self.workspace = workspace
        self.rates = rates or ActivityRates()
        self._routes: dict[tuple[str, str], Callable[[Mapping[str, str]], dict[str, Any]]] = {
            ("POST", ACTIVITY_PATH): self.play,
            ("GET", CLOCK_PATH): self.clock,
            ("POST", CLOCK_PATH): self.move_clock,
            ("GET", UNREAD_PATH): self.unread,
        }

    def answer(self, method: str, raw_path: str, raw_query: str) -> Response | None:
        """The answer to an admin request, or ``None`` if ``(method, raw_path)`` is no admin endpoint.

        :param method: HTTP method.
        :param raw_path: the path as received.
        :param raw_query: the query string as received.
        """
        route = self._routes.get((method, raw_path))
        if route is None:
            return None
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        try:
            return json_response(200, route(params))
        except ValueError as error:
            return error_response(400, f"{method} {raw_path}: {error}")

    def play(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /_simulator/activity``: play ``days`` simulated days (default 1), one after the other; the clock
        moves by the days. With ``over``, the days' events fall instead in that much real time from now,
        snoozes as long at most, and the clock goes on with the wall clock: runs started meanwhile, whose time
        is the wall clock, see them.

        :param params: ``days``, ``over`` (an ISO 8601 duration or seconds), and ``active_fraction``,
            ``new_conversations``, ``snooze_fraction`` per day.
        """
        _only(params, "days", "over", "active_fraction", "new_conversations", "snooze_fraction")
        days = _number(params, "days", 1, int)
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days must be between 1 and {MAX_DAYS}, got {params['days']!r}")
        new_conversations = _number(params, "new_conversations", self.rates.new_conversations, int)
        if new_conversations < 0:
            raise ValueError(f"new_conversations must not be negative, got {params['new_conversations']!r}")
        day: dict[str, Any] = {
            "new_conversations": new_conversations,
            "active_fraction": _number(params, "active_fraction", self.rates.active_fraction, float),
            "snooze_fraction": _number(params, "snooze_fraction", self.rates.snooze_fraction, float),
        }
        if "over" in params:
            over = parse_duration(params["over"])
            if over <= timedelta(0):
                raise ValueError(f"over must be positive, got {params['over']!r}")
            day.update(period=over, max_snooze=over, advance=False)
        totals = {"messages": 0, "new_conversations": 0, "snoozes": 0}
        start = None  # the first day's own start (the clock ticks on while a day is played)
        for _ in range(days):
            played = self.workspace.simulate_activity(**day)
            start = start or played["from"]
            for name in totals:
                totals[name] += played[name]
        return {"days": days, **totals, "from": start, "to": played["to"], "clock": self.workspace.now().isoformat()}

    def clock(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /_simulator/clock``: the simulator clock."""
        _only(params)
        return {"now": self.workspace.now().isoformat()}

    def move_clock(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /_simulator/clock``: set it (``now=``, as ``--now`` takes it) or move it forward (``advance=``).

        :param params: exactly one of ``now`` and ``advance`` (an ISO 8601 duration or seconds).
        """
        _only(params, "now", "advance")
        if len(params) != 1:
            raise ValueError("give exactly one of now= (an instant, a date or -P7D) and advance= (P1D, PT6H, seconds)")
        if "now" in params:
            self.workspace.set_now(parse_start(params["now"], self.workspace.now()))
        else:
            self.workspace.advance(parse_duration(params["advance"]))
        return self.clock({})

    def unread(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /_simulator/unread``: how many live conversations are unread now, and how many a stale-unread
        cleanup running now must mark.

        :param params: ``older_than_days`` (default 30), the cleanup's idle age.
        """
        _only(params, "older_than_days")
        days = _number(params, "older_than_days", 30.0, float)
        if days <= 0:
            raise ValueError(f"older_than_days must be positive, got {params['older_than_days']!r}")
        now = self.workspace.now()
        return {
            "now": now.isoformat(),
            "unread": len(self.workspace.unread_ids(at=now)),
            "older_than_days": days,
            "stale_unread": len(self.workspace.stale_unread_ids(days, at=now)),
        }


def _only(params: Mapping[str, str], *names: str) -> None:
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(unknown)} (takes: {', '.join(names) or 'none'})")


def _number(params: Mapping[str, str], name: str, default: Any, kind: Callable[[str], Any]) -> Any:
    if name not in params:
        return default
    try:
        return kind(params[name])
    except ValueError:
        raise ValueError(
            f"{name} must be {'an integer' if kind is int else 'a number'}, got {params[name]!r}"
        ) from None
