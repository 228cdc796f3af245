"""The machinery shared by the mark-as-read, mark-as-done and mark-as-open operators."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_quo.conversation_ids import parse_conversation_ids
from airflow_provider_quo.exceptions import (
    QuoAuthenticationError,
    QuoBulkMarkError,
    QuoError,
    QuoPermissionError,
    QuoTLSError,
)
from airflow_provider_quo.hooks.quo import MarkAction, QuoHook
from airflow_provider_quo.operators._params import as_bool, as_optional_int, as_optional_rate
from airflow_provider_quo.operators._progress import ProgressReporter
from airflow_provider_quo.operators._summary import SUMMARY_XCOM_KEY, MarkSummary

if TYPE_CHECKING:
    from airflow.sdk import Context

#: How many ids a dry run, or the failure warnings, list in the task log.
MAX_LOGGED_IDS = 20
#: Errors every further call would repeat: the run stops taking ids at the first one.
FATAL_ERRORS = (QuoAuthenticationError, QuoPermissionError, QuoTLSError)
#: XCom key of the updated conversation objects when ``return_conversations`` is set.
CONVERSATIONS_XCOM_KEY = "conversations"


class BaseMarkConversationsOperator(BaseOperator):
    """Marks conversations through one ``mark-as-*`` endpoint, concurrently at the connection's rate.

    Every id is validated before the first request. One id's failure never stops the others; a 401
    or 403 stops the run at once (every further call would fail alike). Returns a summary (XCom
    ``return_value``): counts, the marked ids, the not-found ids and each failed id with a one-line
    reason. Subclasses set :attr:`action`.

    :param conversation_ids: one ``CN…`` id, a list of ids, a comma/space separated string, a JSON
        list string (what a Jinja ``xcom_pull`` renders to) or an XComArg. (templated)
    :param quo_conn_id: the ``quo`` connection. (templated)
    :param fail_on_error: fail the task, after every id was tried, if any id failed.
    :param on_not_found: ``"skip"`` records a 404 as not found; ``"fail"`` counts it as a failure.
    :param dry_run: log and return what would be marked without sending anything; accepts
        ``"true"``/``"false"`` strings from templates. (templated)
    :param requests_per_second: a cap on this task's share of the key's budget (the connection's
        ``requests_per_second``, shared by every task using the key). (templated)
    :param max_workers: concurrent requests (default: enough to keep the throttle busy). (templated)
    :param include_marked_ids: list the marked ids in the summary; set ``False`` for very large
        runs to keep only their count.
    :param return_conversations: also push the updated conversation objects as a list under the
        XCom key ``"conversations"`` (off by default: they are about 500 bytes each).
    :param progress_interval: seconds between progress lines in the task log.
    """

    action: ClassVar[MarkAction]
    template_fields: Sequence[str] = (
        "conversation_ids",
        "quo_conn_id",
        "dry_run",
        "requests_per_second",
        "max_workers",
    )
    ui_color = "#dff5e3"

    def __init__(
        self,
        *,
        conversation_ids: Any,
        quo_conn_id: str = QuoHook.default_conn_name,
        fail_on_error: bool = True,
        on_not_found: str = "skip",
        dry_run: bool | str = False,
        requests_per_second: float | str | None = None,
        max_workers: int | str | None = None,
        include_marked_ids: bool = True,
        return_conversations: bool = False,
        progress_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_not_found not in ("skip", "fail"):
            raise ValueError(f"on_not_found must be 'skip' or 'fail', got {on_not_found!r}")
        self.conversation_ids = conversation_ids
        self.quo_conn_id = quo_conn_id
        self.fail_on_error = fail_on_error
        self.on_not_found = on_not_found
        self.dry_run = dry_run  # type: ignore[assignment,method-assign]  # shadows BaseOperator.dry_run()
        self.requests_per_second = requests_per_second
        self.max_workers = max_workers
        self.include_marked_ids = include_marked_ids
        self.return_conversations = return_conversations
        self.progress_interval = progress_interval
        self._stop_taking: threading.Event | None = None  # made per run: an Event cannot be deep-copied

    def on_kill(self) -> None:
        """Send no further ids when the task is killed; calls under way finish and are counted."""
        if self._stop_taking is not None:
            self._stop_taking.set()

    def execute(self, context: Context) -> dict[str, Any]:
        ids = parse_conversation_ids(self.conversation_ids)
        dry_run = as_bool(self.dry_run, "dry_run")
        workers = as_optional_int(self.max_workers, "max_workers")
        rate = as_optional_rate(self.requests_per_second, "requests_per_second")
        label = f"mark-as-{self.action}"
        summary = MarkSummary(
            self.action,
            len(ids),
            fail_on_not_found=self.on_not_found == "fail",
            keep_marked_ids=self.include_marked_ids,
        )
        if not ids:
            self.log.info("%s: no conversation ids given; nothing to do", label)
            return summary.as_dict(dry_run=dry_run)
        if dry_run:
            shown = ", ".join(ids[:MAX_LOGGED_IDS]) + (" ..." if len(ids) > MAX_LOGGED_IDS else "")
            self.log.info("%s: dry run, would mark %d conversation(s): %s", label, len(ids), shown)
            result = summary.as_dict(dry_run=True)
            result["would_mark"] = ids if self.include_marked_ids else []
            return result
        hook = QuoHook(quo_conn_id=self.quo_conn_id, requests_per_second=rate)
        self.log.info("%s: %d conversation(s) at up to %g requests/s", label, len(ids), hook.requests_per_second)
        progress = ProgressReporter(label, len(ids), self.log, interval=self.progress_interval)
        conversations: list[dict[str, Any]] = []
        fatal: QuoError | None = None
        stop_taking = self._stop_taking = threading.Event()
        outcomes = hook.mark_conversations(ids, self.action, max_workers=workers, stop_taking=stop_taking)
        try:
            for outcome in outcomes:
                summary.record(outcome.item, outcome.error)
                if isinstance(outcome.error, FATAL_ERRORS) and fatal is None:
                    fatal = outcome.error  # every further call would fail alike: send no more ids
                    stop_taking.set()
                elif outcome.error is None and self.return_conversations and outcome.result is not None:
                    conversations.append(outcome.result)
                progress.update(summary.done, len(summary.failed))
        finally:
            outcomes.close()
        result = summary.as_dict(elapsed_seconds=progress.elapsed())
        self.log.info("%s in %.1fs", summary.line(), progress.elapsed())
        for conversation_id, reason in list(summary.failed.items())[:MAX_LOGGED_IDS]:
            self.log.warning("%s failed for %s: %s", label, conversation_id, reason)
        if self.return_conversations:
            context["ti"].xcom_push(key=CONVERSATIONS_XCOM_KEY, value=conversations)
        error: QuoError | None = fatal
        if error is None and stop_taking.is_set() and summary.done < summary.requested:
            error = QuoBulkMarkError(f"Task killed: {summary.line()}", result)  # never report success
        elif error is None and summary.failed and self.fail_on_error:
            first = next(iter(summary.failed.values()))
            error = QuoBulkMarkError(f"{summary.line()}; first failure: {first}", result)
        if error is not None:
            context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=result)
            raise error
        return result
