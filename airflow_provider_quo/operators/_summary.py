"""The JSON-serialisable summary a marking operator returns (its XCom ``return_value``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_quo.exceptions import QuoNotFoundError, QuoNotSentError

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
        if isinstance(error, QuoNotSentError):
            return
        if error is None:
            self.marked_count += 1
            if self.keep_marked_ids:
                self.marked.append(conversation_id)
        elif isinstance(error, QuoNotFoundError) and not self.fail_on_not_found:
            self.not_found.append(conversation_id)
        else:
            self.failed[conversation_id] = " ".join(str(error).split()) or type(error).__name__

    def seed(self, marked: Sequence[str], not_found: Sequence[str], failed: Mapping[str, str]) -> None:
        """Count the outcomes earlier tries of the task instance settled (a resumed retry skips those ids).

        :param marked: ids marked.
        :param not_found: ids not found (counted as such whatever ``fail_on_not_found`` says now).
        :param failed: failed ids and their reasons.
        """
        self.marked_count += len(marked)
        if self.keep_marked_ids:
            self.marked.extend(marked)
        self.not_found.extend(not_found)
        self.failed.update(failed)

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
