"""The JSON-serialisable summary a marking operator returns (XCom ``return_value``, success or failure).

Each id's outcome is a :data:`~airflow_provider_quo.operators._outcome.Result`; a failure's ``kind``
travels as data (``failed_detail``), so what it means is read from the table, never worked out again
from a status or a message. :meth:`MarkSummary.from_dict` reads a summary back,
:meth:`MarkSummary.merge` adds two up and :func:`total_of_batches` totals a mapped task's batches;
:func:`commits_watermark` and :func:`may_succeed_later` answer from each failure's ``kind``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_quo.dispositions import DISPOSITIONS, UNKNOWN
from airflow_provider_quo.operators._outcome import MARKED, NOT_FOUND, Failure, Result, result_of


class MarkSummary:
    """Counts and ids of one bulk run; holds ids only, never conversation objects.

    Every entry given is counted exactly once:
    ``marked_count + not_found_count + failed_count + not_attempted_count + invalid_count == requested``.
    ``invalid_count`` is 0 unless the operator skips invalid ids (``on_invalid_id="skip"``).

    :param action: ``"read"``, ``"done"`` or ``"open"``.
    :param requested: how many distinct entries the run was given, invalid ones included.
    :param fail_on_not_found: count a 404 as a failure rather than as "not found".
    :param keep_marked_ids: list the marked ids in the summary (else only their count).
    :param invalid: the invalid entries skipped, each described with its problem (never sent).
    """

    def __init__(
        self,
        action: str,
        requested: int,
        *,
        fail_on_not_found: bool,
        keep_marked_ids: bool,
        invalid: Sequence[str] = (),
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MarkSummary:
        """The summary :meth:`as_dict` gave (from XCom, say).

        :param data: a marking summary.
        """
        summary = cls(
            str(data.get("action", "")),
            int(data.get("requested", 0)),
            fail_on_not_found=False,
            keep_marked_ids=True,
            invalid=data.get("invalid") or [],
        )
        summary.marked_count = int(data.get("marked_count", 0))
        summary.marked = list(data.get("marked") or [])
        summary.not_found = list(data.get("not_found") or [])
        summary.failed = dict(data.get("failed") or {})
        summary.failed_detail = dict(data.get("failed_detail") or {})
        summary.dry_run = bool(data.get("dry_run", False))
        summary.elapsed_seconds = float(data.get("elapsed_seconds", 0.0))
        return summary

    @classmethod
    def lost(cls, action: str, ids: Sequence[str], reason: str) -> MarkSummary:
        """The summary of a run that failed before it could summarise: every id failed, with ``reason``.

        :param action: ``"read"``, ``"done"`` or ``"open"``.
        :param ids: the run's ids.
        :param reason: why, pointing at the log.
        """
        summary = cls(action, len(ids), fail_on_not_found=False, keep_marked_ids=True)
        for conversation_id in ids:
            summary.add(conversation_id, Failure(reason, UNKNOWN))
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
    def complete(self) -> bool:
        """Whether every id was dealt with: nothing failed, and (unless a dry run) nothing left unsent."""
        return not self.failed and (self.dry_run or self.not_attempted == 0)

    @property
    def done(self) -> int:
        """Ids with an outcome so far."""
        return self.marked_count + len(self.not_found) + len(self.failed)

    @property
    def not_attempted(self) -> int:
        """Valid ids not sent (yet)."""
        return self.requested - len(self.invalid) - self.done

    def record(self, conversation_id: str, error: BaseException | None) -> Result | None:
        """Add one call's outcome; return it as a :data:`Result` (``None``: not sent), for the checkpoint.

        :param conversation_id: the id.
        :param error: what its call raised, or ``None`` if it was marked; a
            :class:`~airflow_provider_quo.exceptions.QuoNotSentError` leaves the id "not attempted".
        """
        result = result_of(error, fail_on_not_found=self.fail_on_not_found)
        self.add(conversation_id, result)
        return result

    def add(self, conversation_id: str, result: Result | None) -> None:
        """Add one id's outcome, as :meth:`record` found it or an earlier try of the task settled it.

        :param conversation_id: the id.
        :param result: its outcome; ``None``: not sent (it stays "not attempted").
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

    def as_dict(self, *, dry_run: bool | None = None, elapsed_seconds: float | None = None) -> dict[str, Any]:
        """The summary as plain JSON types.

        :param dry_run: whether nothing was sent (default: as read by :meth:`from_dict`, else ``False``).
        :param elapsed_seconds: how long the run took (default: as read, else 0).
        """
        dry_run = self.dry_run if dry_run is None else dry_run
        elapsed_seconds = self.elapsed_seconds if elapsed_seconds is None else elapsed_seconds
        return {
            "action": self.action,
            "dry_run": dry_run,
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
            "elapsed_seconds": round(elapsed_seconds, 3),
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
    total = MarkSummary(action, 0, fail_on_not_found=False, keep_marked_ids=True)
    failed_batches = []
    for index, (data, ids) in enumerate(zip(summaries, batches, strict=True)):
        if data is None:
            reason = f"batch {index} failed without a summary: see the log of {task_id}[{index}]"
            batch = MarkSummary.lost(action, ids, reason)
        else:
            batch = MarkSummary.from_dict(data)
        if data is None or not batch.complete:
            failed_batches.append(index)
        total.merge(batch)
    return {**total.as_dict(), "batches": len(batches), "failed_batches": failed_batches}


def may_succeed_later(summary: dict[str, Any]) -> list[str]:
    """The failed ids of a summary whose kind says a later try may mark them; an id without a known kind
    (a summary of an older provider version, say) counts as one.

    :param summary: a marking summary (:meth:`MarkSummary.as_dict`).
    """
    details: dict[str, Any] = summary.get("failed_detail") or {}
    failed: dict[str, Any] = summary.get("failed") or {}
    return [cid for cid in failed if _later(details.get(cid))]


def commits_watermark(summary: Any) -> bool:
    """Whether a marking summary lets the listing's watermark move on.

    It must be a real (not dry) run with every id attempted, whose failures are all of kinds that
    commit (403 only: see :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`); read from each
    failure's ``kind`` in ``failed_detail``, never from its message.

    :param summary: the marking task's summary (``None`` or anything else: it does not commit).
    """
    if not isinstance(summary, dict) or summary.get("dry_run") is not False:
        return False
    failed, details = summary.get("failed"), summary.get("failed_detail") or {}
    if summary.get("not_attempted_count") != 0 or not isinstance(failed, dict) or not isinstance(details, dict):
        return False
    return all(_kind_commits(details.get(cid)) for cid in failed)


def _meaning(detail: Any) -> Any:
    """The table's row of a ``failed_detail`` entry's kind; ``None`` if it names none."""
    return DISPOSITIONS.get(str(detail.get("kind"))) if isinstance(detail, dict) else None


def _later(detail: Any) -> bool:
    meaning = _meaning(detail)
    return meaning is None or meaning.may_succeed_later


def _kind_commits(detail: Any) -> bool:
    meaning = _meaning(detail)
    return meaning is not None and meaning.commits_watermark
