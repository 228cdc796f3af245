"""One id's outcome as data: :data:`MARKED`, :data:`NOT_FOUND` or a :class:`Failure`.

A failure's ``kind`` is its key in :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`. The summary
and the checkpoint keep it as it was found, so a resumed task reads back the same kind and decides as
an uninterrupted one: nothing is worked out again from a status or a message.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from airflow_provider_quo.dispositions import disposition, kind_of

MARKED = "marked"
NOT_FOUND = "not_found"


class Failure(NamedTuple):
    """One failed id's outcome: the one-line reason, the failure's kind and its HTTP status (if it had one).

    A tuple: the checkpoint groups tens of thousands of them by value in milliseconds.

    :param reason: the error's message on one line (the key never in it: errors are built redacted).
    :param kind: the failure's key in :data:`~airflow_provider_quo.dispositions.DISPOSITIONS`.
    :param status: the HTTP status, ``None`` without an answer.
    """

    reason: str
    kind: str
    status: int | None = None

    @classmethod
    def of(cls, error: BaseException) -> Failure:
        """The failure ``error`` is.

        :param error: what an id's call raised.
        """
        status = getattr(error, "status", None)
        reason = " ".join(str(error).split()) or type(error).__name__
        return cls(reason, kind_of(error), status if isinstance(status, int) else None)

    @property
    def detail(self) -> dict[str, Any]:
        """The failure as the summary's ``failed_detail`` lists it."""
        return {"kind": self.kind, "status": self.status}


Result = str | Failure  # MARKED, NOT_FOUND or a Failure


def result_of(error: BaseException | None, *, fail_on_not_found: bool) -> Result | None:
    """What a call's outcome settles, as the table counts it; ``None`` if the id was not sent.

    :param error: what the call raised, ``None`` if it marked the conversation.
    :param fail_on_not_found: count a 404 as a failure rather than as "not found".
    """
    if error is None:
        return MARKED
    counted = disposition(error).summary
    if counted == "not_attempted":
        return None
    if counted == "not_found" and not fail_on_not_found:
        return NOT_FOUND
    return Failure.of(error)
