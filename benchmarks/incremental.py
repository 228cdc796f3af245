"""6. Incremental cleanup: the key budget of a steady-state daily run as the workspace's history grows.

For each workspace size the simulator plays a first full sweep (day 0, marked in the app so the
setup costs no requests), then a day of activity (2% of the live conversations get a message), and
on day 1 two runs at the same instant are counted request by request:

- the **incremental** run: ``ListStaleConversationsOperator(marked_by=...)`` from day 0's watermark,
  then ``MarkConversationReadOperator`` on what it selected (real HTTP marks);
- the **full re-sweep** the first release did every day: the same listing with ``full_sweep=True``;
  its marks are counted, not sent (one request per selected id);
- the incremental listing with the opt-in ``updated_after_window`` (fewer pages), and how many of the
  incremental run's conversations it missed: the seeded snoozes do not move ``updatedAt``, so it
  misses the snoozes that ended in the window, the risk its documentation states.

Key-budget seconds are requests divided by Quo's 10 requests/s: how long the run holds the whole
key. The listing's XCom history is played by a small in-memory stand-in (:class:`RunHistory`); the
same operators through real Airflow are in ``tests/integration/test_incremental_cleanup.py``.
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from benchmarks._common import Context, figure

TITLE = "Incremental cleanup: key budget of a daily run as history grows"
KEY_RATE = 10.0
OLDER_THAN_DAYS = 30
ACTIVE_FRACTION = 0.02
START = datetime(2027, 1, 1, tzinfo=timezone.utc)
FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (300, 1_000)
PLOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "incremental-cleanup.png"


class RunHistory:
    """What the listing relies on between runs: the watermark Variable, and each run's marking summary."""

    def __init__(self) -> None:
        self.variables: dict[str, str] = {}
        self.markings: dict[str, Any] = {}

    def context(self, run_id: str, when: datetime) -> dict[str, Any]:
        """A task context for one run at ``when``."""
        return {"ti": _TaskInstance(self, run_id), "run_id": run_id, "data_interval_end": when, "logical_date": when}

    def copy(self) -> RunHistory:
        """An independent history with the same state."""
        other = RunHistory()
        other.variables, other.markings = dict(self.variables), dict(self.markings)
        return other


class _Variables:
    """``airflow.sdk.Variable`` over a history's dict."""

    def __init__(self, history: RunHistory) -> None:
        self.history = history

    def get(self, key: str, default: Any = None) -> Any:
        return self.history.variables.get(key, default)

    def set(self, key: str, value: str, description: str | None = None) -> None:
        self.history.variables[key] = value


class _TaskInstance:
    def __init__(self, history: RunHistory, run_id: str) -> None:
        self.history, self.run_id = history, run_id
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value", **kwargs: Any) -> Any:
        return self.history.markings.get(str(kwargs.get("run_id"))) if key == "return_value" else None

    def get_dagrun_state(self, dag_id: str, run_id: str) -> str:
        return "success"


def _listing(history: RunHistory, run_id: str, when: datetime, **options: Any) -> tuple[list[str], Any]:
    """Run the listing operator for one run; return its ids and its context (the task instance holds its XComs)."""
    from airflow_provider_quo.operators.list_stale_conversations import ListStaleConversationsOperator
    from airflow_provider_quo.operators.watermark import variable as watermark_variable

    operator = ListStaleConversationsOperator(
        task_id="list_stale", older_than=OLDER_THAN_DAYS, marked_by="mark_read", **options
    )
    context = history.context(run_id, when)
    real = watermark_variable._variable
    watermark_variable._variable = lambda: _Variables(history)  # type: ignore[assignment]
    try:
        return operator.execute(context), context  # type: ignore[arg-type]
    finally:
        watermark_variable._variable = real  # type: ignore[assignment]


def measure_day(conversations: int) -> dict[str, float]:
    """Day 0 full sweep (read in the app), a day of activity, then day 1's incremental run and full re-sweep."""
    from airflow_provider_quo.operators.mark_conversation_read import MarkConversationReadOperator
    from airflow_provider_quo.testing import QuoSimulator

    history = RunHistory()
    day1 = START + timedelta(days=1)
    with QuoSimulator(conversations=conversations, seed=1, now=START) as sim:
        os.environ["AIRFLOW_CONN_QUO_DEFAULT"] = sim.connection_json({"requests_per_second": 100_000})
        first, _ = _listing(history, "day0", START)
        sim.read_in_app(first)
        history.markings["day0"] = {"dry_run": False, "failed_count": 0, "not_attempted_count": 0, "failed": {}}
        sim.simulate_activity(day1 - sim.now(), active_fraction=ACTIVE_FRACTION)
        sim.set_now(day1)
        needed = len(sim.stale_unread_ids(OLDER_THAN_DAYS, at=day1))
        narrow = history.copy()
        sim.reset_stats()
        narrowed, _ = _listing(narrow, "day1-narrow", day1, updated_after_window=True)
        narrow_listing_requests = sim.request_count("GET")
        sim.reset_stats()
        selected, context = _listing(history, "day1", day1)
        listing_requests = sim.request_count("GET")
        listed = context["ti"].pushed["summary"]["scanned"]  # read before the marking pushes its own summary
        MarkConversationReadOperator(task_id="mark_read", conversation_ids=selected).execute(context)
        marks = sim.request_count("POST")
        sim.reset_stats()
        swept, _ = _listing(RunHistory(), "day1-full", day1, full_sweep=True)
        full_listing_requests = sim.request_count("GET")
    return {
        "first_sweep": float(len(first)),
        "needed": float(needed),
        "marks": float(marks),
        "listed": float(listed),
        "listing_requests": float(listing_requests),
        "incremental_requests": float(listing_requests + marks),
        "full_requests": float(full_listing_requests + len(swept)),
        "narrow_requests": float(narrow_listing_requests + marks),
        "narrow_missed": float(len(set(selected) - set(narrowed))),
    }


def draw(rows: list[tuple[int, dict[str, float]]], path: Path = PLOT) -> Path:
    """Plot key-budget seconds per daily run against workspace size, full re-sweep against incremental."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = [size for size, _ in rows]
    fig, axes = pyplot.subplots(figsize=(7, 4.2), dpi=110)
    for key, label, style in (
        ("full_requests", "full re-sweep (first release)", "o-"),
        ("incremental_requests", "incremental (default listing)", "s-"),
        ("narrow_requests", "incremental + updated_after_window", "^--"),
    ):
        axes.plot(sizes, [row[key] / KEY_RATE for _, row in rows], style, label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("conversations in the workspace")
    axes.set_ylabel("key budget per daily run (s at 10 req/s)")
    axes.set_title(f"Daily stale cleanup, {ACTIVE_FRACTION:.0%} of conversations active per day")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    pyplot.close(fig)
    return path


def _figures(size: int, row: dict[str, float], largest: bool) -> list[dict[str, Any]]:
    params = {"conversations": size, "active_per_day": ACTIVE_FRACTION, "older_than_days": OLDER_THAN_DAYS}
    bound = math.ceil(row["listed"] / 100) + 1
    marks_note = f"{row['marks']:.0f} of {row['needed']:.0f}"
    listing_note = f"{row['listing_requests']:.0f} for {row['listed']:.0f} listed"
    # (key, label, value, unit, target, note)
    specs: list[tuple[str, str, float, str, tuple[str, float] | None, str | None]] = [
        ("requests", "incremental daily run: requests", row["incremental_requests"], "count", None, None),
        ("key_budget_s", "incremental daily run: key budget", row["incremental_requests"] / KEY_RATE, "s", None, None),
        ("full_resweep_requests", "full re-sweep: requests", row["full_requests"], "count", None, None),
        ("full_resweep_key_budget_s", "full re-sweep: key budget", row["full_requests"] / KEY_RATE, "s", None, None),
        ("narrow_requests", "incremental with updated_after_window: requests", row["narrow_requests"], "count",
         None, None),
        ("narrow_missed", "conversations updated_after_window missed", row["narrow_missed"], "count", None,
         "snoozes that did not move updatedAt"),
        ("saving", "full re-sweep / incremental", row["full_requests"] / row["incremental_requests"], "x",
         (">=", 20.0) if largest else None, None),
        ("marks_per_needed", "marks sent / marks needed", row["marks"] / max(row["needed"], 1), "ratio",
         ("<=", 1.05), marks_note),
        ("listing_per_bound", "listing requests / (ceil(listed/100)+1)", row["listing_requests"] / bound, "ratio",
         ("<=", 1.0), listing_note),
    ]  # fmt: skip
    return [
        figure(
            f"incremental.{size}.{key}", f"{label} ({size:,})", [value], unit, target=target, params=params, note=note
        )
        for key, label, value, unit, target, note in specs
    ]


def run(context: Context, sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Measure each workspace size (``sizes`` overrides them, e.g. for a smoke test) and draw the plot."""
    sizes = sizes or (QUICK_SIZES if context.quick else FULL_SIZES)
    rows = []
    for size in sizes:
        row = measure_day(size)
        context.progress(
            f"  incremental {size:,}: {row['incremental_requests']:.0f} requests "
            f"({row['marks']:.0f} marks for {row['needed']:.0f} needed), full re-sweep {row['full_requests']:.0f}"
        )
        rows.append((size, row))
    figures = [fig for size, row in rows for fig in _figures(size, row, largest=size == max(sizes))]
    plot = draw(rows) if not context.quick else draw(rows, context.workdir / "incremental-cleanup.png")
    return {
        "id": "incremental",
        "title": TITLE,
        "command": "make bench  # or: .venv/bin/python -m benchmarks --only incremental",
        "figures": figures,
        "notes": [
            f"Plot: {plot.name} (docs/img/). Requests are counted, not timed: the figures do not depend on "
            "the machine's speed.",
            "The seeded history spreads last activity over 120 days, so about 0.8% of the workspace crosses "
            "the 30-day line each day (a long-run 2%-a-day workspace would give about 1.1%).",
            "By default both runs list every conversation created before the cutoff (Quo cannot filter on "
            "last activity): the listing still grows with history (1 request per 100), the marks do not. "
            "updated_after_window lists only what was updated since the watermark minus older_than.",
        ],
    }
