"""ListStaleConversationsOperator: select the conversations that became stale since the last good run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_quo.conversation_ids import (
    as_bool,
    as_optional_int,
    as_string_list,
    conversation_id_problem,
    describe_value,
)
from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators._selection import IN_WINDOW, SELECTION_XCOM_KEY, selection_line, selection_summary
from airflow_provider_quo.operators._staleness import TICK, StalenessRule, as_duration
from airflow_provider_quo.operators.watermark.state import Point, up_to
from airflow_provider_quo.operators.watermark.variable import WatermarkVariable
from airflow_provider_quo.operators.watermark.window import Candidate, Plan, Window, earliest, plan, when

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ListStaleConversationsOperator"]

#: How many ids the listing names in its log when it skips them as invalid.
MAX_LOGGED_IDS = 20


def _plain_utc(value: datetime) -> datetime:
    # A stdlib datetime: Airflow passes pendulum DateTimes, which drop a stdlib tzinfo in arithmetic
    # (``pendulum_dt.astimezone(timezone.utc) - timedelta(days=1)`` is naive).
    utc = value.astimezone(timezone.utc)
    return datetime.combine(utc.date(), utc.time(), tzinfo=timezone.utc)


def _collect(candidates: Iterable[Candidate], limit: int | None) -> tuple[list[str], Counter[str], Point | None]:
    """The selected ids, how many were selected for each reason, and where a ``limit`` cut the window."""
    if limit is None:  # keep ids only: a first sweep may select a workspace's whole history
        ids, reasons = [], Counter[str]()
        for candidate in candidates:
            ids.append(candidate.conversation_id)
            reasons[candidate.reason] += 1
        return ids, reasons, None
    kept, cut = earliest(candidates, limit)
    return [c.conversation_id for c in kept], Counter(c.reason for c in kept), cut


def reference_time(context: Context) -> datetime:
    """The DAG run's time: data interval end, else logical date, else the run's ``run_after``."""
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if isinstance(value, datetime):
            return _plain_utc(value)
    run_after = getattr(context.get("dag_run"), "run_after", None)
    if isinstance(run_after, datetime):
        return _plain_utc(run_after)
    raise ValueError("The task context has no data_interval_end, logical_date or dag_run.run_after")


class ListStaleConversationsOperator(BaseOperator):
    """Select the conversations that became stale (idle for longer than ``older_than``) since the last good run.

    Quo has no unread flag, so "stale unread" cleanup marks conversations idle for too long. With
    ``marked_by`` set (the task that marks the returned ids), the cleanup is **incremental**: a run
    selects only the conversations that became stale in its window, between the watermark (how far
    the last run whose marking fully succeeded got) and the run's time, less what other runs still
    hold. The watermark and each run's claim live in the Airflow Variable
    ``quo_watermark__<dag_id>__<task_id>`` (delete it to start over). A conversation became stale
    when its idle age passed ``older_than``, or when a snooze on an idle conversation ended. The first
    run, a run with ``full_sweep``, a run whose selection settings differ from the last run's, and every
    run without ``marked_by`` select everything stale. A marking whose only failures are 403s (a phone
    number the key's user may not use) still moves the watermark on.
    See ``docs/stale-cleanup.md`` for why no way of starting a run leaves a gap.

    Age is measured from the DAG run's time (data interval end, else logical date, else ``run_after``), not the wall
    clock, so retries and re-runs select the same conversations. Deleted and snoozed conversations
    are left alone by default. Listing asks the server only for conversations created before the
    cutoff (always safe: a newer one cannot be idle that long).

    Returns the selected ids (XCom ``return_value``), ready for ``MarkConversationReadOperator``;
    counts, the window and what the run claimed go to the XCom key ``"summary"``.

    :param older_than: minimum idle time: a timedelta, a number of days, or an ISO 8601 duration such
        as ``"P30D"`` or ``"PT36H"``. (templated)
    :param marked_by: task id of the (unmapped) task that marks this listing's ids and pushes a
        marking summary under the XCom key ``summary`` (``MarkConversationReadOperator``); makes the
        listing incremental. (templated)
    :param full_sweep: select every stale conversation this run, whatever the watermark (a weekly
        full sweep catches conversations marked unread by hand without new activity). (templated)
    :param phone_numbers: only these numbers (E.164 or ``PN…`` ids; list, JSON list or comma
        separated). (templated)
    :param user_id: only conversations accessible to this ``US…`` user. (templated)
    :param limit: select at most this many conversations, those that became stale first (ties by id);
        the rest is left to the next run. (templated)
    :param include_muted: select muted conversations too (default ``True``). (templated)
    :param include_snoozed: select conversations snoozed past the run's time. (templated)
    :param include_deleted: select deleted conversations. (templated)
    :param updated_before_cutoff: also ask the server for ``updatedBefore=cutoff``: fewer pages, but
        misses idle conversations changed without new activity (renamed, reassigned).
    :param updated_after_window: on incremental runs, also ask for ``updatedAfter`` = watermark minus
        ``older_than``: fewer pages, but misses a snooze that ended in the window on a conversation
        not updated since that instant (whether snoozing updates ``updatedAt`` is not documented).
    :param quo_conn_id: the ``quo`` connection. (templated)
    :param max_active_tis_per_dag: how many runs' listings may run at once (Airflow's own task argument);
        ``1`` by default, so that each run's listing reads what the runs before it claimed: runs at once
        never select the same conversation. ``None`` (Airflow's default: no limit) lets listings overlap;
        overlapping runs then mark some conversations twice (never none).
    """

    template_fields: Sequence[str] = (
        "older_than",
        "marked_by",
        "full_sweep",
        "phone_numbers",
        "user_id",
        "limit",
        "include_muted",
        "include_snoozed",
        "include_deleted",
        "quo_conn_id",
    )
    ui_color = "#e3ecf7"

    def __init__(
        self,
        *,
        older_than: Any,
        marked_by: str | None = None,
        full_sweep: Any = False,
        phone_numbers: Any = None,
        user_id: str | None = None,
        limit: Any = None,
        include_muted: Any = True,
        include_snoozed: Any = False,
        include_deleted: Any = False,
        updated_before_cutoff: bool = False,
        updated_after_window: bool = False,
        quo_conn_id: str = QuoHook.default_conn_name,
        max_active_tis_per_dag: int | None = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(max_active_tis_per_dag=max_active_tis_per_dag, **kwargs)
        self.older_than = older_than
        self.marked_by = marked_by
        self.full_sweep = full_sweep
        self.phone_numbers = phone_numbers
        self.user_id = user_id
        self.limit = limit
        self.include_muted = include_muted
        self.include_snoozed = include_snoozed
        self.include_deleted = include_deleted
        self.updated_before_cutoff = updated_before_cutoff
        self.updated_after_window = updated_after_window
        self.quo_conn_id = quo_conn_id

    def execute(self, context: Context) -> list[str]:
        now = reference_time(context)
        older_than = as_duration(self.older_than, "older_than")
        rule = self._rule(now, older_than)
        limit = as_optional_int(self.limit, "limit")
        phone_numbers = as_string_list(self.phone_numbers, "phone_numbers")
        selection = self._selection(rule, older_than, phone_numbers)
        state = self._state(context, selection)
        window_plan = self._plan(state, context, now)
        for line in window_plan.lines:
            self.log.info("Window: %s", line)
        if state is not None:
            self.log.info("Watermark: Airflow Variable %s", state.key)
        verdicts: Counter[str] = Counter()
        selected_ids: list[str] = []
        reasons: Counter[str] = Counter()
        cut = None
        if window_plan.window.spans:
            listed = self._list(phone_numbers, rule.cutoff, window_plan.window, older_than)
            candidates = self._candidates(listed, rule, window_plan.window, verdicts)
            selected_ids, reasons, cut = _collect(candidates, limit)
        claimed = up_to(window_plan.window.spans, cut)
        if state is not None:
            state.claim(claimed)
        summary = selection_summary(rule, window_plan, verdicts, reasons, claimed, cut)
        self.log.info("Selection: %s", selection_line(summary))
        context["ti"].xcom_push(key=SELECTION_XCOM_KEY, value=summary)
        return selected_ids

    def _state(self, context: Context, selection: dict[str, Any]) -> WatermarkVariable | None:
        """The watermark state of this task, or ``None`` when the listing is not incremental."""
        if not self.marked_by:
            return None
        self._check_marked_by()
        return WatermarkVariable(
            ti=context["ti"],
            dag_id=self.dag_id,
            task_id=self.task_id,
            marked_by=self.marked_by,
            run_id=str(context.get("run_id")),
            selection=selection,
        )

    def _plan(self, state: WatermarkVariable | None, context: Context, now: datetime) -> Plan:
        """The run's window: a full sweep, or what the watermark state leaves to this run."""
        if state is None:
            return Plan(
                Window.everything(now), (f"not incremental (marked_by is not set): full sweep up to {when(now)}",)
            )
        resolved, dropped, fresh = state.open()
        if as_bool(self.full_sweep, "full_sweep"):
            return Plan(Window.everything(now), (f"full sweep requested, up to {when(now)}",))
        return plan(resolved, state.run_id, now, dropped, fresh)

    def _rule(self, now: datetime, older_than: timedelta) -> StalenessRule:
        return StalenessRule(
            cutoff=now - older_than,
            now=now,
            include_deleted=as_bool(self.include_deleted, "include_deleted"),
            include_snoozed=as_bool(self.include_snoozed, "include_snoozed"),
            include_muted=as_bool(self.include_muted, "include_muted"),
        )

    def _selection(self, rule: StalenessRule, older_than: timedelta, phone_numbers: list[str]) -> dict[str, Any]:
        """The settings that decide what is stale: a watermark is trusted only by a run with the same ones."""
        return {
            "older_than_seconds": older_than.total_seconds(),
            "phone_numbers": sorted(phone_numbers),
            "user_id": self.user_id or None,
            "include_deleted": rule.include_deleted,
            "include_snoozed": rule.include_snoozed,
            "include_muted": rule.include_muted,
            "updated_before_cutoff": bool(self.updated_before_cutoff),
        }

    def _check_marked_by(self) -> None:
        dag = getattr(self, "_dag", None)  # None when the operator runs outside a DAG (unit tests)
        if dag is None:
            return
        if self.marked_by not in dag.task_ids:
            raise ValueError(f"marked_by={self.marked_by!r} is not a task of DAG {dag.dag_id!r}")
        if getattr(dag.get_task(self.marked_by), "is_mapped", False):
            raise ValueError(f"marked_by={self.marked_by!r} is a mapped task: name the task that totals its batches")

    def _list(
        self, phone_numbers: list[str], cutoff: datetime, window: Window, older_than: timedelta
    ) -> Iterator[dict[str, Any]]:
        start = window.start
        narrow = self.updated_after_window and start is not None
        return QuoHook(quo_conn_id=self.quo_conn_id).iter_conversations(
            phone_numbers=phone_numbers or None,
            user_id=(self.user_id or None),
            created_before=cutoff,
            updated_before=cutoff if self.updated_before_cutoff else None,
            updated_after=start - older_than - TICK if narrow and start else None,
        )

    def _candidates(
        self, listed: Iterable[Any], rule: StalenessRule, window: Window, verdicts: Counter[str]
    ) -> Iterator[Candidate]:
        """The listed conversations that became stale in ``window``, each counted in ``verdicts`` as ``IN_WINDOW``
        or by why it was skipped."""
        for conversation in listed:
            conversation_id = conversation.get("id") if isinstance(conversation, dict) else None
            if not isinstance(conversation_id, str):
                verdicts["malformed"] += 1
                continue
            problem = conversation_id_problem(conversation_id)
            if problem is not None:
                verdicts["invalid_id"] += 1
                if verdicts["invalid_id"] <= MAX_LOGGED_IDS:
                    self.log.warning("Skipping listed id %s: %s", describe_value(conversation_id), problem)
                continue
            assessment = rule.assess(conversation)
            if assessment.stale_since is None:
                verdicts[assessment.verdict] += 1
            elif not window.holds(assessment.stale_since, conversation_id):
                verdicts["before_window"] += 1
            elif window.handled_before(assessment.stale_since, conversation_id):
                verdicts["marked_by_failed_run"] += 1
            else:
                verdicts[IN_WINDOW] += 1
                yield Candidate(assessment.stale_since, conversation_id, assessment.verdict)
