"""The JSON-serialisable summary a marking operator returns (its XCom ``return_value``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_quo.dispositions import DISPOSITIONS, disposition, kind_of

#: XCom key of a count summary: the listing operator's always, a marking operator's when it fails.
SUMMARY_XCOM_KEY = "summary"


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

    @property
    def done(self) -> int:
        """Ids with an outcome so far."""
        return self.marked_count + len(self.not_found) + len(self.failed)

    @property
    def not_attempted(self) -> int:
        """Valid ids not sent (yet)."""
        return self.requested - len(self.invalid) - self.done

    def record(self, conversation_id: str, error: BaseException | None) -> None:
        """Add one id's outcome.

        :param conversation_id: the id.
        :param error: what its call raised, or ``None`` if it was marked; a
            :class:`~airflow_provider_quo.exceptions.QuoNotSentError` leaves the id "not attempted".
        """
        if error is None:
            self.marked_count += 1
            if self.keep_marked_ids:
                self.marked.append(conversation_id)
            return
        meaning = disposition(error)
        if meaning.summary == "not_attempted":
            return
        if meaning.summary == "not_found" and not self.fail_on_not_found:
            self.not_found.append(conversation_id)
            return
        self.failed[conversation_id] = " ".join(str(error).split()) or type(error).__name__
        self.failed_detail[conversation_id] = failure_detail(error)

    def as_dict(self, *, dry_run: bool = False, elapsed_seconds: float = 0.0) -> dict[str, Any]:
        """The summary as plain JSON types.

        :param dry_run: whether nothing was sent.
        :param elapsed_seconds: how long the run took.
        """
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


def failure_detail(error: BaseException) -> dict[str, Any]:
    """One failed id's failure as data: its kind, HTTP status (``None`` without an answer) and whether a
    later try may succeed, all from :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`.

    :param error: what the id's call raised.
    """
    status = getattr(error, "status", None)
    return {
        "kind": kind_of(error),
        "status": status if isinstance(status, int) else None,
        "retryable": disposition(error).may_succeed_later,
    }


def retryable_failures(summary: dict[str, Any]) -> list[str]:
    """The failed ids of a summary that a later try may mark (an id without detail counts as one).

    :param summary: a marking summary (:meth:`MarkSummary.as_dict`).
    """
    details: dict[str, Any] = summary.get("failed_detail") or {}
    failed: dict[str, Any] = summary.get("failed") or {}
    return [cid for cid in failed if (details.get(cid) or {}).get("retryable", True)]


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


def _kind_commits(detail: Any) -> bool:
    meaning = DISPOSITIONS.get(str(detail.get("kind"))) if isinstance(detail, dict) else None
    return meaning is not None and meaning.commits_watermark
