"""Where the watermark state lives: one Airflow Variable per listing task, read and written only here.

The key is ``quo_watermark__<dag_id>__<task_id>``; the value is the JSON of
:class:`~airflow_provider_quo.operators.watermark.state.WatermarkState`. Users see it in the UI (Admin >
Variables) and with ``airflow variables get``; deleting it starts the next run over with a full sweep.

The outcome of another run's claim is read by that run's id, never by date: its marking task's summary
(``xcom_pull(..., run_id=...)``) and, when that says nothing, the run's state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_provider_quo.operators._summary import commits_watermark
from airflow_provider_quo.operators.watermark.state import (
    DONE,
    DROPPED,
    IN_FLIGHT,
    Span,
    WatermarkState,
    handled_ids,
    resolve,
    with_claim,
)

log = logging.getLogger(__name__)

VARIABLE_PREFIX = "quo_watermark"
#: Run states in which a run may still mark what it claimed.
LIVE_RUN_STATES = frozenset({"queued", "running"})


def _variable() -> Any:
    from airflow.sdk import Variable

    return Variable


def run_state(ti: Any, dag_id: str, run_id: str) -> str | None:
    """The state of run ``run_id`` (``None`` if it cannot be read, e.g. the run was deleted)."""
    try:
        state = ti.get_dagrun_state(dag_id=dag_id, run_id=run_id)
    except Exception:  # a deleted run, or an Airflow that cannot say: the claim is dropped (costs marks only)
        log.debug("No state for run %s of %s", run_id, dag_id, exc_info=True)
        return None
    return str(getattr(state, "value", state))


def claim_outcomes(
    ti: Any, dag_id: str, marked_by: str, own_run_id: str, run_ids: Iterable[str]
) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """``done`` (its marking succeeded), ``in_flight`` (its run may still mark) or ``dropped`` for each run,
    and for the dropped runs the ids their marking handled all the same (see :func:`handled_ids`).

    :param ti: this task instance (it reads other runs' XComs and states).
    :param dag_id: the DAG.
    :param marked_by: the marking task's id.
    :param own_run_id: this run: its own claim is in flight unless its marking already succeeded.
    :param run_ids: the runs holding claims.
    """
    outcomes, handled = {}, {}
    for run_id in sorted(set(run_ids)):
        # the marking task's return_value, succeeded or failed (None if it never finished): the only place
        # the watermark reads another task's XCom
        summary = ti.xcom_pull(task_ids=marked_by, key="return_value", run_id=run_id, map_indexes=-1)
        if commits_watermark(summary):
            outcomes[run_id] = DONE
        elif run_id == own_run_id or run_state(ti, dag_id, run_id) in LIVE_RUN_STATES:
            outcomes[run_id] = IN_FLIGHT
        else:
            outcomes[run_id] = DROPPED
            handled[run_id] = handled_ids(summary)
    return outcomes, handled


def _changed(old: dict[str, Any], new: dict[str, Any]) -> str:
    return ", ".join(sorted(k for k in {*old, *new} if old.get(k) != new.get(k)))


class WatermarkVariable:
    """The watermark state of one listing task, for one run.

    :param ti: the task instance.
    :param dag_id: the DAG.
    :param task_id: the listing task.
    :param marked_by: the task that marks the listing's ids.
    :param run_id: this run.
    :param selection: this run's selection settings.
    """

    def __init__(
        self, *, ti: Any, dag_id: str, task_id: str, marked_by: str, run_id: str, selection: dict[str, Any]
    ) -> None:
        self.ti, self.dag_id, self.marked_by, self.run_id = ti, dag_id, marked_by, run_id
        self.key = f"{VARIABLE_PREFIX}__{dag_id}__{task_id}"
        self.selection = selection
        self.outcomes: dict[str, str] = {}

    def read(self) -> tuple[WatermarkState | None, str | None]:
        """The stored state for this selection, or ``None`` and why it starts afresh."""
        raw = _variable().get(self.key, default=None)
        if raw is None:
            return None, "first run"
        try:
            state = WatermarkState.from_json(json.loads(raw) if isinstance(raw, str) else raw)
        except (ValueError, KeyError, TypeError) as error:
            return None, f"unreadable state ({error})"
        if state.selection != self.selection:
            return None, f"selection settings changed ({_changed(state.selection, self.selection)})"
        return state, None

    def open(self) -> tuple[WatermarkState, dict[str, tuple[tuple[Span, ...], frozenset[str]]], str | None]:
        """The state with every claim resolved; for each run whose claim was dropped, its spans and the ids
        its marking handled all the same; and why the state is fresh, if it is."""
        state, fresh = self.read()
        if state is None:
            return WatermarkState(self.selection), {}, fresh
        run_ids = [claim.run_id for claim in state.claims]
        self.outcomes, handled = claim_outcomes(self.ti, self.dag_id, self.marked_by, self.run_id, run_ids)
        dropped = {
            run_id: (tuple(c.span for c in state.claims if c.run_id == run_id), ids) for run_id, ids in handled.items()
        }
        return resolve(state, self.outcomes), dropped, None

    def claim(self, spans: Sequence[Span]) -> WatermarkState:
        """Record ``spans`` as this run's claim: on the state as it is now (re-read, to lose as little as
        possible of what other runs wrote meanwhile), with the outcomes :meth:`open` found."""
        state, _ = self.read()
        state = resolve(state or WatermarkState(self.selection), self.outcomes)
        state = with_claim(state, self.run_id, spans)
        _variable().set(
            self.key,
            json.dumps(state.to_json()),
            description="airflow-provider-quo: stale cleanup watermark; delete it to make the next run a full sweep",
        )
        return state
