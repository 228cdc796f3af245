"""A marking run's progress, small enough to save every second and exact enough to resume from.

A retry of a task instance that was killed (OOM, evicted pod, ``execution_timeout``) reads the checkpoint
its earlier tries saved and sends only what they did not settle. The id list's order is fixed, so the
checkpoint is a *position* (every id before it has an outcome), the ids settled out of order past it, and
the outcomes that are not "marked": not found, or failed with the failure's ``kind`` and HTTP status.
Index sets are packed as zlib-compressed gaps: 100,000 ids take well under 100 KB. It is saved at most
:data:`CHECKPOINT_SECONDS` after an outcome, so a hard kill loses the calls in flight and about a second's
worth at most. A format-1 checkpoint (no kinds) is read with its failed ids left to be sent again.

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

from airflow_provider_quo.dispositions import DISPOSITIONS
from airflow_provider_quo.operators._summary import MARKED, NOT_FOUND, Failure, Result

#: Key of the checkpoint in the task instance's state store.
CHECKPOINT_KEY = "quo_mark_checkpoint"
CHECKPOINT_FORMAT = 2
#: A checkpoint is saved at the first outcome this many seconds or more after the last save.
CHECKPOINT_SECONDS = 1.0
#: Distinct failure reasons kept word for word; further failures keep only their kind and status.
MAX_REASONS = 50


class Store(Protocol):
    """What the checkpoint needs of Airflow's ``task_state_store``."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


def digest(ids: Sequence[str]) -> str:
    """A fingerprint of the id list, order included: a checkpoint belongs to exactly this input."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def pack(indices: Iterable[int]) -> str:
    """Sorted indices as base64 of the zlib-compressed gaps between them."""
    previous, gaps = -1, []
    for index in sorted(indices):
        gaps.append(str(index - previous))
        previous = index
    return base64.b64encode(zlib.compress(",".join(gaps).encode())).decode("ascii")


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

    def settled(self) -> set[int]:
        """The indices with an outcome."""
        return set(range(self.position)) | self.ahead

    def resend(self, *, same_series: bool) -> set[int]:
        """Failed ids a new try sends again: those whose kind's ``resent_on_resume`` says so (an unknown kind
        too); every one if the task was cleared."""
        return {
            index
            for index, failure in self.failed.items()
            if not same_series or getattr(DISPOSITIONS.get(failure.kind), "resent_on_resume", True)
        }

    def reopen(self, indices: set[int]) -> None:
        """Forget the outcomes of ``indices``: a new try sends them again, and a kill before their new
        outcomes must leave them to be sent again, not turn the old ones into verdicts."""
        if not indices:
            return
        start = min(indices)
        self.ahead.update(range(start, self.position))
        self.position = min(self.position, start)
        self.ahead -= indices
        for index in indices:
            self.failed.pop(index, None)
            self.not_found.discard(index)


def encode(progress: Progress) -> dict[str, Any]:
    """The JSON value saved in the state store."""
    groups: dict[tuple[str, str, int | None], list[int]] = {}
    for index, failure in progress.failed.items():  # tens of thousands: plain tuple operations only
        key = failure if failure in groups or len(groups) < MAX_REASONS else ("", *failure[1:])
        groups.setdefault(key, []).append(index)
    return {
        "format": CHECKPOINT_FORMAT,
        "digest": progress.digest,
        "total": progress.total,
        "series": progress.series,
        "tries": [progress.first_try, progress.last_try],
        "position": progress.position,
        "ahead": pack(progress.ahead),
        "not_found": pack(progress.not_found),
        "failed": [[reason, kind, status, pack(indices)] for (reason, kind, status), indices in groups.items()],
    }


def decode(value: Any) -> Progress:
    """The :class:`Progress` :func:`encode` saved (format 1: failed ids reopened); ``ValueError`` (or a
    ``KeyError``/``TypeError``) if it is not one."""
    if not isinstance(value, dict) or value.get("format") not in (1, CHECKPOINT_FORMAT):
        raise ValueError("not a checkpoint of this format")
    first_try, last_try = value["tries"]
    progress = Progress(str(value["digest"]), int(value["total"]), int(value["series"]), int(first_try), int(last_try))
    progress.position = int(value["position"])
    progress.ahead = set(unpack(value["ahead"]))
    progress.not_found = set(unpack(value["not_found"]))
    kindless: set[int] = set()
    for reason, kind, status, packed in value["failed"]:
        if value["format"] == 1:  # [reason, status, retryable, packed]: no kind to decide from
            kindless.update(unpack(packed))
            continue
        how = f"with HTTP {status}" if status else f"({kind})"
        text = reason or f"failed in an earlier try {how} (reason in that try's log)"
        failure = Failure(text, str(kind), None if status is None else int(status))
        progress.failed.update(dict.fromkeys(unpack(packed), failure))
    if not 0 <= progress.position <= progress.total or any(i >= progress.total for i in progress.ahead):
        raise ValueError("positions outside the id list")
    progress.reopen(kindless)
    return progress


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
        self._saved_at, self._warned = clock(), False

    def resume(self) -> tuple[set[int], list[tuple[str, Result]]]:
        """Read the earlier tries' checkpoint: the indices this try skips and their outcomes, in input order."""
        earlier = self._load()
        if earlier is None:
            return set(), []
        same_series = earlier.series == self.progress.series
        resend = earlier.resend(same_series=same_series)
        earlier.reopen(resend)
        skip = earlier.settled()
        cleared = "" if same_series else " (the task was cleared: every failed id is sent again)"
        again = f"; {len(resend)} failed id(s) sent again" if resend else ""
        self.log.info("resuming: %d of %d settled by %s%s%s", len(skip), earlier.total, _tries(earlier), cleared, again)
        earlier.series, earlier.last_try = self.progress.series, self.try_number
        self.progress = earlier
        prior = [
            (self.ids[i], earlier.failed.get(i) or (NOT_FOUND if i in earlier.not_found else MARKED))
            for i in sorted(skip)
        ]
        return skip, prior

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
        """Record one outcome; save if :data:`CHECKPOINT_SECONDS` have passed since the last save."""
        if result is None:
            return
        self.progress.settle(self.index[conversation_id], result)
        if self.clock() - self._saved_at >= CHECKPOINT_SECONDS:
            self.save()

    def save(self) -> None:
        """Write the checkpoint now. A store error is logged once, never raised: marking goes on."""
        self._saved_at = self.clock()
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
