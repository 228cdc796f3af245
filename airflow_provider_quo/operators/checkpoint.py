"""A marking run's progress, small enough to save every few seconds and exact enough to resume from.

A retry of a task instance that was killed (OOM, evicted pod, ``execution_timeout``) reads the
checkpoint its earlier tries saved and sends only what they did not settle. The id list's order is
fixed, so the checkpoint is a *position* (every id before it has an outcome), the ids settled out of
order past it (a handful: calls complete out of order under concurrency) and the outcomes that are not
"marked" (not found, failed with the status and whether a retry may cure it). Index sets are packed as
zlib-compressed gaps: 100,000 ids take well under 100 KB however their outcomes mix.

Nothing here imports Airflow: the store is anything with ``get``/``set``/``delete`` (Airflow 3.3's
``context["task_state_store"]``).
"""

from __future__ import annotations

import base64
import hashlib
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_quo.dispositions import disposition

#: Key of the checkpoint in the task instance's state store.
CHECKPOINT_KEY = "quo_mark_checkpoint"
CHECKPOINT_FORMAT = 1
#: A checkpoint is saved when this many seconds or this many settled ids have passed since the last one.
CHECKPOINT_SECONDS = 5.0
CHECKPOINT_IDS = 1000
#: Distinct failure reasons kept word for word; further failures keep only their status.
MAX_REASONS = 50
NOT_FOUND = "not_found"
MARKED = "marked"


class Store(Protocol):
    """What the checkpoint needs of Airflow's ``task_state_store``."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class Failure:
    """One failed id's outcome: the reason line, the HTTP status (if any) and whether a retry may cure it."""

    reason: str
    status: int | None
    retryable: bool


Result = str | Failure  # MARKED, NOT_FOUND or a Failure


def digest(ids: Sequence[str]) -> str:
    """A fingerprint of the id list, order included: a checkpoint belongs to exactly this input."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def is_retryable(error: BaseException) -> bool:
    """Whether an id that failed with ``error`` is sent again by a retry: all but the server's per-id verdicts.

    A 401 is sent again (the key may have been fixed); so is any failure without an HTTP answer. The
    ``resent_on_resume`` of its :data:`~airflow_provider_quo.dispositions.DISPOSITIONS` row.
    """
    return disposition(error).resent_on_resume


def result_of(error: BaseException | None, *, fail_on_not_found: bool) -> Result | None:
    """What a call's outcome settles, as the summary counts it; ``None`` if the id was not sent."""
    if error is None:
        return MARKED
    counted = disposition(error).summary
    if counted == "not_attempted":
        return None
    if counted == "not_found" and not fail_on_not_found:
        return NOT_FOUND
    reason = " ".join(str(error).split()) or type(error).__name__
    return Failure(reason, getattr(error, "status", None), is_retryable(error))


def pack(indices: Iterable[int]) -> str:
    """Sorted indices as base64 of the zlib-compressed gaps between them."""
    previous, gaps = -1, []
    for index in sorted(indices):
        gaps.append(str(index - previous))
        previous = index
    return base64.b64encode(zlib.compress(",".join(gaps).encode(), 9)).decode("ascii")


def unpack(packed: str) -> list[int]:
    """The indices :func:`pack` packed."""
    text = zlib.decompress(base64.b64decode(packed)).decode("ascii")
    indices, previous = [], -1
    for gap in filter(None, text.split(",")):
        previous += int(gap)
        indices.append(previous)
    return indices


@dataclass
class Progress:
    """The outcomes of one task instance's run over one id list, by index in that list.

    :param digest: :func:`digest` of the ids.
    :param total: how many ids.
    :param series: the task instance's ``max_tries`` (Airflow raises it when the task is cleared).
    :param first_try: the try that started this progress.
    :param last_try: the try that saved it last.
    """

    digest: str
    total: int
    series: int
    first_try: int
    last_try: int
    position: int = 0
    ahead: set[int] = field(default_factory=set)
    not_found: set[int] = field(default_factory=set)
    failed: dict[int, Failure] = field(default_factory=dict)

    def settle(self, index: int, result: Result) -> None:
        """Record the outcome of ``ids[index]`` (again, if a retry sent it again)."""
        self.failed.pop(index, None)
        self.not_found.discard(index)
        if isinstance(result, Failure):
            self.failed[index] = result
        elif result == NOT_FOUND:
            self.not_found.add(index)
        if index >= self.position:
            self.ahead.add(index)
        while self.position in self.ahead:
            self.ahead.remove(self.position)
            self.position += 1

    def has_outcome(self, index: int) -> bool:
        return index < self.position or index in self.ahead

    def resend(self, *, same_series: bool) -> set[int]:
        """Failed ids a new try sends again: the retryable ones; every one if the task was cleared."""
        return {index for index, failure in self.failed.items() if failure.retryable or not same_series}

    def settled_count(self, resend: set[int]) -> int:
        return self.position + len(self.ahead) - len(resend)


def encode(progress: Progress) -> dict[str, Any]:
    """The JSON value saved in the state store."""
    groups: dict[Failure, list[int]] = {}
    for index, failure in progress.failed.items():
        if failure not in groups and len(groups) >= MAX_REASONS:
            failure = Failure("", failure.status, failure.retryable)
        groups.setdefault(failure, []).append(index)
    return {
        "format": CHECKPOINT_FORMAT,
        "digest": progress.digest,
        "total": progress.total,
        "series": progress.series,
        "tries": [progress.first_try, progress.last_try],
        "position": progress.position,
        "ahead": pack(progress.ahead),
        "not_found": pack(progress.not_found),
        "failed": [[f.reason, f.status, f.retryable, pack(indices)] for f, indices in groups.items()],
    }


def decode(value: Any) -> Progress:
    """The :class:`Progress` :func:`encode` saved; ``ValueError`` (or a ``KeyError``/``TypeError``) if it is not one."""
    if not isinstance(value, dict) or value.get("format") != CHECKPOINT_FORMAT:
        raise ValueError("not a checkpoint of this format")
    first_try, last_try = value["tries"]
    progress = Progress(str(value["digest"]), int(value["total"]), int(value["series"]), int(first_try), int(last_try))
    progress.position = int(value["position"])
    progress.ahead = set(unpack(value["ahead"]))
    progress.not_found = set(unpack(value["not_found"]))
    for reason, status, retryable, packed in value["failed"]:
        text = (
            reason or f"failed in an earlier try{f' with HTTP {status}' if status else ''} (reason in that try's log)"
        )
        failure = Failure(text, None if status is None else int(status), bool(retryable))
        progress.failed.update(dict.fromkeys(unpack(packed), failure))
    if not 0 <= progress.position <= progress.total or any(i >= progress.total for i in progress.ahead):
        raise ValueError("positions outside the id list")
    return progress


@dataclass
class Prior:
    """What earlier tries settled, for the summary: marked ids, not-found ids and failed ids with reasons."""

    marked: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    failed: dict[str, Failure] = field(default_factory=dict)


def prior_outcomes(progress: Progress, ids: Sequence[str], skip: set[int]) -> Prior:
    """The outcomes of the ``skip`` indices, in input order."""
    prior = Prior()
    for index in sorted(skip):
        if index in progress.failed:
            prior.failed[ids[index]] = progress.failed[index]
        elif index in progress.not_found:
            prior.not_found.append(ids[index])
        else:
            prior.marked.append(ids[index])
    return prior


class Checkpointer:
    """Saves a run's :class:`Progress` in a store at a bounded rate, and plans a retry from it.

    :param store: the task instance's state store.
    :param ids: the run's valid ids, in input order.
    :param series: the task instance's ``max_tries``.
    :param try_number: this try.
    :param log: a logger.
    :param clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        store: Store,
        ids: Sequence[str],
        *,
        series: int,
        try_number: int,
        log: Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.ids, self.log, self.clock = store, ids, log, clock
        self.index = {cid: n for n, cid in enumerate(ids)}
        self.progress = Progress(digest(ids), len(ids), series, try_number, try_number)
        self.try_number = try_number
        self._saved_at, self._unsaved, self._warned = clock(), 0, False

    def resume(self) -> tuple[set[int], Prior]:
        """Read the earlier tries' checkpoint: the indices this try skips and their outcomes."""
        earlier = self._load()
        if earlier is None:
            return set(), Prior()
        same_series = earlier.series == self.progress.series
        resend = earlier.resend(same_series=same_series)
        for index in resend:  # sent again: a kill before its new outcome must not turn it into a verdict
            failure = earlier.failed[index]
            earlier.failed[index] = Failure(failure.reason, failure.status, True)
        skip = {index for index in range(earlier.total) if earlier.has_outcome(index)} - resend
        cleared = "" if same_series else " (the task was cleared: every failed id is sent again)"
        again = f"; {len(resend)} failed id(s) sent again" if resend else ""
        self.log.info("resuming: %d of %d settled by %s%s%s", len(skip), earlier.total, _tries(earlier), cleared, again)
        earlier.series, earlier.last_try = self.progress.series, self.try_number
        self.progress = earlier
        return skip, prior_outcomes(earlier, self.ids, skip)

    def _load(self) -> Progress | None:
        value = self.store.get(CHECKPOINT_KEY)
        if value is None:
            return None
        try:
            earlier = decode(value)
        except (ValueError, KeyError, TypeError, zlib.error) as error:
            self.log.warning("ignoring an unreadable checkpoint (%s): starting over", error)
            return None
        if earlier.digest != self.progress.digest or earlier.total != self.progress.total:
            self.log.warning(
                "the checkpoint of %s belongs to other ids (%d then, %d now: did upstream re-run?): starting over",
                _tries(earlier),
                earlier.total,
                self.progress.total,
            )
            return None
        return earlier

    def settled(self, conversation_id: str, result: Result | None) -> None:
        """Record one outcome; save when :data:`CHECKPOINT_SECONDS` or :data:`CHECKPOINT_IDS` have passed."""
        if result is None:
            return
        self.progress.settle(self.index[conversation_id], result)
        self._unsaved += 1
        if self._unsaved >= CHECKPOINT_IDS or self.clock() - self._saved_at >= CHECKPOINT_SECONDS:
            self.save()

    def save(self) -> None:
        """Write the checkpoint now. A store error is logged once, never raised: marking goes on."""
        self._saved_at, self._unsaved = self.clock(), 0
        try:
            self.store.set(CHECKPOINT_KEY, encode(self.progress))
        except Exception as error:
            if not self._warned:
                self.log.warning("could not save the checkpoint (%s): a retry may send settled ids again", error)
            self._warned = True

    def clear(self) -> None:
        """Forget the checkpoint (the task succeeded: clearing it must re-run everything)."""
        try:
            self.store.delete(CHECKPOINT_KEY)
        except Exception as error:
            self.log.warning("could not delete the checkpoint (%s)", error)


def _tries(progress: Progress) -> str:
    if progress.first_try == progress.last_try:
        return f"try {progress.first_try}"
    return f"tries {progress.first_try}-{progress.last_try}"


def checkpointer_for(context: Any, ids: Sequence[str], log: Any) -> Checkpointer | None:
    """The run's :class:`Checkpointer`, or ``None`` where Airflow has no task state store (before 3.3).

    :param context: the task's Airflow context.
    :param ids: the valid ids, in input order.
    :param log: the operator's logger.
    """
    store = context.get("task_state_store")
    ti = context.get("ti")
    if store is None or ti is None:
        return None
    return Checkpointer(store, ids, series=int(ti.max_tries), try_number=int(ti.try_number), log=log)
