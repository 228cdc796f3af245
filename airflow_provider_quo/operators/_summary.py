"""One marking run's outcomes: each id's :data:`Result`, the JSON summary (XCom ``return_value``, success or
failure) and the progress lines of a long run.

A failure's ``kind`` (its key in :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`) travels as data
(``failed_detail``, the checkpoint), so a resumed task or a reader of the summary decides from the table as
the run did, never from a status or a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from airflow_provider_quo.dispositions import DISPOSITIONS, UNKNOWN, disposition, kind_of

MARKED = "marked"
NOT_FOUND = "not_found"


class Failure(NamedTuple):
    """One failed id's outcome (a tuple: the checkpoint groups tens of thousands of them by value).

    :param reason: the error's message on one line (the key never in it: errors are built redacted).
    :param kind: the failure's key in :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`.
    :param status: the HTTP status, ``None`` without an answer.
    """

    reason: str
    kind: str
    status: int | None = None

    @property
    def detail(self) -> dict[str, Any]:
        """The failure as the summary's ``failed_detail`` lists it."""
        return {"kind": self.kind, "status": self.status}


Result = str | Failure  # MARKED, NOT_FOUND or a Failure


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class MarkSummary:
    """Counts and ids of one bulk run; holds ids only, never conversation objects.

    Every entry given is counted exactly once:
    ``marked_count + not_found_count + failed_count + not_attempted_count + invalid_count == requested``
    (``invalid_count`` is 0 unless the operator skips invalid ids).

    :param action: ``"read"``, ``"done"`` or ``"open"``.
    :param requested: how many distinct entries the run was given, invalid ones included.
    :param fail_on_not_found: count a 404 as a failure rather than as "not found".
    :param keep_marked_ids: list the marked ids in the summary (else only their count).
    :param invalid: the invalid entries skipped, each described with its problem (never sent).
    :param clock: monotonic clock of the progress lines (injectable for tests).
    """

    def __init__(
        self,
        action: str,
        requested: int,
        *,
        fail_on_not_found: bool = False,
        keep_marked_ids: bool = True,
        invalid: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.action = action
        self.requested = requested
        self.fail_on_not_found = fail_on_not_found
        self.keep_marked_ids = keep_marked_ids
        self.invalid = list(invalid)
        self.marked_count = 0
        self.marked: list[str] = []
        self.not_found: list[str] = []
        self.failed: dict[str, str] = {}
        self.failed_detail: dict[str, dict[str, Any]] = {}
        self.dry_run = False
        self.elapsed_seconds = 0.0
        self.clock = clock
        self.started = self._line_at = clock()
        self._recorded = self._line_recorded = 0  # this try's outcomes, now and at the last progress line

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MarkSummary:
        """The summary :meth:`as_dict` gave (from XCom, say).

        :param data: a marking summary.
        """
        summary = cls(str(data.get("action", "")), int(data.get("requested", 0)), invalid=data.get("invalid") or [])
        summary.marked_count = int(data.get("marked_count", 0))
        summary.marked = list(data.get("marked") or [])
        summary.not_found = list(data.get("not_found") or [])
        summary.failed = dict(data.get("failed") or {})
        summary.failed_detail = dict(data.get("failed_detail") or {})
        summary.dry_run = bool(data.get("dry_run", False))
        summary.elapsed_seconds = float(data.get("elapsed_seconds", 0.0))
        return summary

    def merge(self, other: MarkSummary) -> None:
        """Add ``other``'s counts and ids to this summary (a total of batches, say).

        :param other: another run's summary.
        """
        self.requested += other.requested
        self.marked_count += other.marked_count
        self.marked += other.marked
        self.not_found += other.not_found
        self.failed.update(other.failed)
        self.failed_detail.update(other.failed_detail)
        self.invalid += other.invalid
        self.dry_run = self.dry_run or other.dry_run
        self.elapsed_seconds = max(self.elapsed_seconds, other.elapsed_seconds)

    @property
    def done(self) -> int:
        """Ids with an outcome so far."""
        return self.marked_count + len(self.not_found) + len(self.failed)

    @property
    def not_attempted(self) -> int:
        """Valid ids not sent (yet)."""
        return self.requested - len(self.invalid) - self.done

    def record(self, conversation_id: str, error: BaseException | None) -> Result | None:
        """Add one call's outcome as the table counts it; return it (``None``: not sent), for the checkpoint.

        :param conversation_id: the id.
        :param error: what its call raised, ``None`` if it was marked.
        """
        counted = None if error is None else disposition(error).summary
        if counted == "not_attempted":
            return None
        if error is None:
            result: Result = MARKED
        elif counted == "not_found" and not self.fail_on_not_found:
            result = NOT_FOUND
        else:
            status = getattr(error, "status", None)
            reason = " ".join(str(error).split()) or type(error).__name__
            result = Failure(reason, kind_of(error), status if isinstance(status, int) else None)
        self.add(conversation_id, result)
        self._recorded += 1
        return result

    def add(self, conversation_id: str, result: Result) -> None:
        """Add one id's outcome, as :meth:`record` found it or an earlier try of the task settled it.

        :param conversation_id: the id.
        :param result: its outcome.
        """
        if result == MARKED:
            self.marked_count += 1
            if self.keep_marked_ids:
                self.marked.append(conversation_id)
        elif result == NOT_FOUND:
            self.not_found.append(conversation_id)
        elif isinstance(result, Failure):
            self.failed[conversation_id] = result.reason
            self.failed_detail[conversation_id] = result.detail

    def log_progress(self, log: Any, interval: float) -> None:
        """Log done/total, the rate since the last line, the ETA and the failures, at most every ``interval`` s.

        :param log: the logger.
        :param interval: seconds between lines.
        """
        now, total, done = self.clock(), self.requested - len(self.invalid), self.done
        if now - self._line_at < interval or now <= self._line_at or done >= total:
            return
        rate = (self._recorded - self._line_recorded) / (now - self._line_at)
        eta = _duration((total - done) / rate) if rate > 0 else "unknown"
        percent = 100.0 * done / total
        line = "%s: %d/%d done (%.0f%%), %.1f/s, ETA %s, %d failed so far"
        log.info(line, f"mark-as-{self.action}", done, total, percent, rate, eta, len(self.failed))
        self._line_at, self._line_recorded = now, self._recorded

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON types."""
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "requested": self.requested,
            "marked_count": self.marked_count,
            "not_found_count": len(self.not_found),
            "failed_count": len(self.failed),
            "not_attempted_count": self.not_attempted,
            "invalid_count": len(self.invalid),
            "marked": self.marked,
            "not_found": self.not_found,
            "failed": self.failed,
            "failed_detail": self.failed_detail,
            "invalid": self.invalid,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }

    def line(self) -> str:
        """One log line with the counts."""
        invalid = f", {len(self.invalid)} invalid (skipped)" if self.invalid else ""
        return (
            f"mark-as-{self.action}: {self.marked_count} marked, {len(self.not_found)} not found, "
            f"{len(self.failed)} failed, {self.not_attempted} not attempted{invalid}, of {self.requested}"
        )


def total_of_batches(
    summaries: Sequence[dict[str, Any] | None],
    batches: Sequence[Sequence[str]],
    *,
    task_id: str = "the mapped task",
    action: str = "read",
) -> dict[str, Any]:
    """The total of a mapped marking task's batches, and which batches failed, so no id is lost.

    A batch that pushed no summary (it failed before it could, say on a bad connection) counts every
    one of its ids as failed. A batch failed if it pushed no summary, has failures, or (unless a dry
    run) left ids unsent.

    :param summaries: each batch's summary (XCom ``summary``), in batch order; ``None`` where it has none.
    :param batches: each batch's ids, in the same order.
    :param task_id: the mapped task's id, named in a lost batch's reason.
    :param action: the batches' action, for the lost batches' summaries.
    :returns: the merged summary with ``batches`` (how many) and ``failed_batches`` (their map indexes).
    """
    total = MarkSummary(action, 0)
    failed_batches = []
    for index, (data, ids) in enumerate(zip(summaries, batches, strict=True)):
        if data is None:
            batch = MarkSummary(action, len(ids))
            lost = Failure(f"batch {index} failed without a summary: see the log of {task_id}[{index}]", UNKNOWN)
            for conversation_id in ids:
                batch.add(conversation_id, lost)
        else:
            batch = MarkSummary.from_dict(data)
        if data is None or batch.failed or (not batch.dry_run and batch.not_attempted):
            failed_batches.append(index)
        total.merge(batch)
    return {**total.as_dict(), "batches": len(batches), "failed_batches": failed_batches}


def may_succeed_later(summary: dict[str, Any]) -> list[str]:
    """The failed ids of a summary whose kind says a later try may mark them; an id without a known kind
    counts as one.

    :param summary: a marking summary (:meth:`MarkSummary.as_dict`).
    """
    details: dict[str, Any] = summary.get("failed_detail") or {}
    failed: dict[str, Any] = summary.get("failed") or {}
    return [cid for cid in failed if (meaning := _meaning(details.get(cid))) is None or meaning.may_succeed_later]


def commits_watermark(summary: Any) -> bool:
    """Whether a marking summary lets the listing's watermark move on: a real (not dry) run with every id
    attempted, whose failures are all of kinds that commit (403 only: see
    :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`), read from each failure's ``kind``.

    :param summary: the marking task's summary (``None`` or anything else: it does not commit).
    """
    if not isinstance(summary, dict) or summary.get("dry_run") is not False:
        return False
    failed, details = summary.get("failed"), summary.get("failed_detail") or {}
    if summary.get("not_attempted_count") != 0 or not isinstance(failed, dict) or not isinstance(details, dict):
        return False
    return all((meaning := _meaning(details.get(cid))) is not None and meaning.commits_watermark for cid in failed)


def _meaning(detail: Any) -> Any:
    """The table's row of a ``failed_detail`` entry's kind; ``None`` if it names none."""
    return DISPOSITIONS.get(str(detail.get("kind"))) if isinstance(detail, dict) else None
