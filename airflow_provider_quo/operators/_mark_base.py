"""The machinery shared by the mark-as-read, mark-as-done and mark-as-open operators."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_quo.conversation_ids import as_bool, as_optional_int, partition_conversation_ids
from airflow_provider_quo.dispositions import DISPOSITIONS, kind_of
from airflow_provider_quo.exceptions import QuoBulkMarkError
from airflow_provider_quo.hooks.quo import MarkAction, Outcome, QuoHook
from airflow_provider_quo.hooks.settings import positive_number
from airflow_provider_quo.operators._summary import MarkSummary
from airflow_provider_quo.operators.checkpoint import Checkpointer
from airflow_provider_quo.redaction import scrub

if TYPE_CHECKING:
    from airflow.sdk import Context

#: How many ids a dry run, or the failure warnings, list in the task log.
MAX_LOGGED_IDS = 20
#: A run stops early (the rest ``not_attempted``, the task failed) when its first this-many outcomes were all 403s.
PERMISSION_EVIDENCE_CALLS = DISPOSITIONS["403"].stops_run_if_first
#: XCom key of a task's return value: the summary's, whether the task succeeds or fails.
XCOM_RETURN_KEY = "return_value"  # Airflow's BaseXCom.XCOM_RETURN_KEY
#: XCom key of the updated conversation objects when ``return_conversations`` is set.
CONVERSATIONS_XCOM_KEY = "conversations"


class BaseMarkConversationsOperator(BaseOperator):
    """Marks conversations through one ``mark-as-*`` endpoint, concurrently at the connection's rate.

    Every id is validated before the first request. One id's failure never stops the others. A 401 (or a
    TLS failure, or a refused connection) stops the run at once: every further call would fail alike. A
    403 ``Not Phone Number User`` concerns one phone number, so it fails that id only; the run stops
    early only if the first 20 outcomes (:data:`PERMISSION_EVIDENCE_CALLS`) are all 403s, and the task
    then fails with the rest ``not_attempted``. A 200 counts as marked only if it returns the
    conversation with the id sent. The summary is the task's XCom ``return_value``, stored once whether
    the task succeeds or fails (``.output``, ``xcom_pull(task_ids=...)``): counts, the marked ids, the
    not-found ids, each failed id with a one-line reason and its ``kind`` and ``status``
    (``failed_detail``), and the invalid entries skipped;
    ``marked_count + not_found_count + failed_count + not_attempted_count + invalid_count == requested``.
    The task log lists the first 20 failed, not-found and invalid ids. Subclasses set :attr:`action`.

    :param conversation_ids: one ``CN…`` id, a list of ids, a comma/space separated string, a JSON
        list string, a Python list repr (what a plain Jinja ``xcom_pull`` renders to) or an XComArg.
        (templated)
    :param quo_conn_id: the ``quo`` connection. (templated)
    :param fail_on_error: fail the task, after every id was tried, if any id failed.
    :param on_not_found: ``"skip"`` records a 404 as not found; ``"fail"`` counts it as a failure.
    :param on_invalid_id: ``"fail"`` (default) refuses the whole list, sending nothing, if any id is
        invalid (right for ids a user typed); ``"skip"`` sends the valid ids and counts, logs and lists
        the invalid ones under ``invalid`` (right for ids from a listing or another system).
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
        on_invalid_id: str = "fail",
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
        if on_invalid_id not in ("skip", "fail"):
            raise ValueError(f"on_invalid_id must be 'skip' or 'fail', got {on_invalid_id!r}")
        self.conversation_ids = conversation_ids
        self.quo_conn_id = quo_conn_id
        self.fail_on_error = fail_on_error
        self.on_not_found = on_not_found
        self.on_invalid_id = on_invalid_id
        self.dry_run = dry_run  # type: ignore[assignment,method-assign]  # shadows BaseOperator.dry_run()
        self.requests_per_second = requests_per_second
        self.max_workers = max_workers
        self.include_marked_ids = include_marked_ids
        self.return_conversations = return_conversations
        self.progress_interval = progress_interval
        self._stop_taking: threading.Event | None = None  # made per run: an Event cannot be deep-copied
        self._checkpoint: Checkpointer | None = None  # Airflow 3.3+: the progress a retry resumes from

    def on_kill(self) -> None:
        """Send no further ids when the task is killed; calls under way finish and are counted."""
        if self._stop_taking is not None:
            self._stop_taking.set()

    def execute(self, context: Context) -> dict[str, Any]:
        """Mark the ids; return the summary, or push it where the return value goes and raise what fails the task."""
        ids, invalid = partition_conversation_ids(self.conversation_ids, skip_invalid=self.on_invalid_id == "skip")
        dry_run = as_bool(self.dry_run, "dry_run")
        workers = as_optional_int(self.max_workers, "max_workers")
        rate = positive_number(self.requests_per_second, "requests_per_second")
        label = f"mark-as-{self.action}"
        summary = MarkSummary(
            self.action,
            len(ids) + len(invalid),
            fail_on_not_found=self.on_not_found == "fail",
            keep_marked_ids=self.include_marked_ids,
            invalid=invalid,
        )
        summary.dry_run = dry_run
        _log_first(self.log.warning, f"{label}: skipped {len(invalid)} invalid conversation id(s)", invalid)
        if not ids:
            self.log.info("%s: no conversation ids given; nothing to do", label)
            return summary.as_dict()
        if dry_run:
            _log_first(self.log.info, f"{label}: dry run, would mark {len(ids)} conversation(s)", ids)
            return {**summary.as_dict(), "would_mark": ids if self.include_marked_ids else []}
        hook = QuoHook(quo_conn_id=self.quo_conn_id, requests_per_second=rate)
        self.log.info("%s: %d conversation(s) at up to %g requests/s", label, len(ids), hook.budget.rate)
        to_send = self._resume(context, ids, summary)
        stop_taking = self._stop_taking = threading.Event()
        outcomes = hook.mark_conversations(to_send, self.action, max_workers=workers, stop_taking=stop_taking)
        conversations, stop_error = self._record_outcomes(outcomes, summary, stop_taking)
        if self.return_conversations:  # the server's data, but never the key should it echo it
            context["ti"].xcom_push(key=CONVERSATIONS_XCOM_KEY, value=scrub(conversations, hook.settings.api_key))
        summary.elapsed_seconds = summary.clock() - summary.started
        result = summary.as_dict()
        error = self._finish(summary, result, stop_error, stop_taking)
        if error is None:
            if self._checkpoint is not None:
                self._checkpoint.clear()  # clearing a successful task re-runs every id
            return result
        if self.do_xcom_push:  # where a success's return value goes: one place, success or failure
            context["ti"].xcom_push(key=XCOM_RETURN_KEY, value=result)
        raise error

    def _resume(self, context: Context, ids: list[str], summary: MarkSummary) -> list[str]:
        """The ids this try sends: on Airflow 3.3+ (a task state store), those the earlier tries of this task
        instance left unsettled (their checkpoint's outcomes are added to ``summary``); every id otherwise."""
        store, ti = context.get("task_state_store"), context.get("ti")
        if store is None or ti is None:
            self._checkpoint = None
            return ids
        series, try_number = int(ti.max_tries), int(ti.try_number)
        self._checkpoint = Checkpointer(store, ids, series=series, try_number=try_number, log=self.log)
        skip, prior = self._checkpoint.resume()
        for conversation_id, result in prior:  # counted as this try would count them, kind for kind
            summary.add(conversation_id, result)
        return [cid for index, cid in enumerate(ids) if index not in skip] if skip else ids

    def _record_outcomes(
        self,
        outcomes: Generator[Outcome[str, dict[str, Any]], None, None],
        summary: MarkSummary,
        stop_taking: threading.Event,
    ) -> tuple[list[dict[str, Any]], BaseException | None]:
        """Count every outcome; stop taking ids at a fatal error or when the 403 evidence says the key can do
        nothing. Returns the conversations (if kept) and the error that stopped the run, if any."""
        conversations: list[dict[str, Any]] = []
        stop_error: BaseException | None = None
        kinds: Counter[str] = Counter()
        try:
            for outcome in outcomes:
                result = summary.record(outcome.item, outcome.error)
                if self._checkpoint is not None:
                    self._checkpoint.settled(outcome.item, result)
                if stop_error is None and outcome.error is not None:
                    stop_error = _stop_error(outcome.error, summary, kinds)
                elif outcome.error is None and self.return_conversations and outcome.result is not None:
                    conversations.append(outcome.result)
                if stop_error is not None:
                    stop_taking.set()
                summary.log_progress(self.log, self.progress_interval)
        finally:
            outcomes.close()
            if self._checkpoint is not None:
                self._checkpoint.save()  # the outcomes since the last save, whatever ended the loop
        return conversations, stop_error

    def _finish(
        self,
        summary: MarkSummary,
        result: dict[str, Any],
        stop_error: BaseException | None,
        stop_taking: threading.Event,
    ) -> BaseException | None:
        """Log the results; return what fails the task: the error that stopped the run, a kill, or
        (``fail_on_error``) any failure."""
        self.log.info("%s in %.1fs", summary.line(), summary.elapsed_seconds)
        label = f"mark-as-{self.action}"
        for conversation_id, reason in list(summary.failed.items())[:MAX_LOGGED_IDS]:
            self.log.warning("%s failed for %s: %s", label, conversation_id, reason)
        _log_first(self.log.warning, f"{label}: {len(summary.not_found)} not found", summary.not_found)
        if stop_error is not None:
            return stop_error
        if stop_taking.is_set() and summary.not_attempted:  # never report success
            return QuoBulkMarkError(f"Task killed: {summary.line()}", result, killed=True)
        if summary.failed and self.fail_on_error:
            first = next(iter(summary.failed.values()))
            return QuoBulkMarkError(f"{summary.line()}; first failure: {first}", result)
        return None


def _log_first(log: Callable[..., None], what: str, values: Sequence[str]) -> None:
    """One log line naming the first :data:`MAX_LOGGED_IDS` values, if there are any."""
    if values:
        more = " ..." if len(values) > MAX_LOGGED_IDS else ""
        log("%s: %s%s", what, ", ".join(values[:MAX_LOGGED_IDS]), more)


def _stop_error(error: BaseException, summary: MarkSummary, kinds: Counter[str]) -> BaseException | None:
    """The error that stops the run after this outcome, if its kind's row in
    :data:`~airflow_provider_quo.dispositions.DISPOSITIONS` says so: at once (401, TLS, connection refused:
    every further call would fail alike), or when the first outcomes were all of its kind (403)."""
    kind = kind_of(error)
    kinds[kind] += 1
    meaning = DISPOSITIONS[kind]
    if meaning.stops_run:
        return error
    if meaning.stops_run_if_first and kinds[kind] == summary.done == meaning.stops_run_if_first:
        message = (
            f"Stopped early: the first {PERMISSION_EVIDENCE_CALLS} calls all answered 403 ({error}), so the key's "
            f"user may act on none of these conversations' phone numbers; {summary.line()}"
        )
        return QuoBulkMarkError(message, summary.as_dict())
    return None
