"""ListStaleConversationsOperator: select conversations idle for longer than a given age."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_quo.hooks.quo import QuoHook
from airflow_provider_quo.operators._params import as_bool, as_duration, as_optional_int, as_string_list
from airflow_provider_quo.operators._staleness import StalenessRule, tally
from airflow_provider_quo.operators._summary import SUMMARY_XCOM_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ListStaleConversationsOperator"]


def _plain_utc(value: datetime) -> datetime:
    # A stdlib datetime: Airflow passes pendulum DateTimes, which drop a stdlib tzinfo in arithmetic
    # (``pendulum_dt.astimezone(timezone.utc) - timedelta(days=1)`` is naive).
    utc = value.astimezone(timezone.utc)
    return datetime.combine(utc.date(), utc.time(), tzinfo=timezone.utc)


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
    """List conversations and select those whose last activity is older than ``older_than``.

    Quo has no unread flag, so "stale unread" cleanup marks every conversation idle for too long.
    Age is measured from the DAG run's time (data interval end, else logical date), not the wall
    clock, so re-runs and backfills select the same conversations. Deleted and currently snoozed
    conversations are left alone by default. Listing asks the server only for conversations created
    before the cutoff (always safe: a newer one cannot be idle that long).

    Returns the selected ids (XCom ``return_value``), ready for ``MarkConversationReadOperator``;
    counts go to the XCom key ``"summary"``.

    :param older_than: minimum idle time: a timedelta, a number of days, or an ISO 8601 duration such
        as ``"P30D"`` or ``"PT36H"``. (templated)
    :param phone_numbers: only these numbers (E.164 or ``PN…`` ids; list, JSON list or comma
        separated). (templated)
    :param user_id: only conversations accessible to this ``US…`` user. (templated)
    :param limit: select at most this many conversations in one run. (templated)
    :param include_muted: select muted conversations too (default ``True``). (templated)
    :param include_snoozed: select conversations snoozed past the run's time. (templated)
    :param include_deleted: select deleted conversations. (templated)
    :param updated_before_cutoff: also ask the server for ``updatedBefore=cutoff``: fewer pages, but
        misses idle conversations changed without new activity (renamed, reassigned).
    :param quo_conn_id: the ``quo`` connection. (templated)
    """

    template_fields: Sequence[str] = (
        "older_than",
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
        phone_numbers: Any = None,
        user_id: str | None = None,
        limit: Any = None,
        include_muted: Any = True,
        include_snoozed: Any = False,
        include_deleted: Any = False,
        updated_before_cutoff: bool = False,
        quo_conn_id: str = QuoHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.older_than = older_than
        self.phone_numbers = phone_numbers
        self.user_id = user_id
        self.limit = limit
        self.include_muted = include_muted
        self.include_snoozed = include_snoozed
        self.include_deleted = include_deleted
        self.updated_before_cutoff = updated_before_cutoff
        self.quo_conn_id = quo_conn_id

    def execute(self, context: Context) -> list[str]:
        now = reference_time(context)
        rule = StalenessRule(
            cutoff=now - as_duration(self.older_than, "older_than"),
            now=now,
            include_deleted=as_bool(self.include_deleted, "include_deleted"),
            include_snoozed=as_bool(self.include_snoozed, "include_snoozed"),
            include_muted=as_bool(self.include_muted, "include_muted"),
        )
        limit = as_optional_int(self.limit, "limit")
        phone_numbers = as_string_list(self.phone_numbers, "phone_numbers")
        self.log.info("Selecting conversations idle since before %s (run time %s)", rule.cutoff, now)
        hook = QuoHook(quo_conn_id=self.quo_conn_id)
        conversations = hook.iter_conversations(
            phone_numbers=phone_numbers or None,
            user_id=(self.user_id or None),
            created_before=rule.cutoff,
            updated_before=rule.cutoff if self.updated_before_cutoff else None,
        )
        selected: list[str] = []
        verdicts: Counter[str] = Counter()
        for conversation in conversations:
            verdict = rule.verdict(conversation)
            verdicts[verdict] += 1
            if verdict == "selected":
                selected.append(conversation["id"])
                if limit is not None and len(selected) >= limit:
                    break
        summary = {
            "cutoff": rule.cutoff.isoformat(),
            "scanned": sum(verdicts.values()),
            "selected": len(selected),
            "limit_reached": limit is not None and len(selected) >= limit,
            **tally(verdicts),
        }
        self.log.info("Selected %d stale conversation(s) of %d scanned: %s", len(selected), summary["scanned"], summary)
        context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
        return selected
