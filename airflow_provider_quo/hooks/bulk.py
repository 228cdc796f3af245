"""Run one call per item on a bounded pool of threads, yielding outcomes as they complete.

Memory stays flat however many items there are: workers pull items from the shared iterator one
at a time and the result queue holds at most ``2 * workers`` outcomes, so at most ``3 * workers``
items are taken from the iterator ahead of the consumer.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_DONE = object()
#: How long closing the generator waits, in all, for calls under way to finish.
SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Outcome(Generic[Item, Result]):
    """What one call gave: ``result`` on success, else the ``error`` it raised."""

    item: Item
    result: Result | None = None
    error: BaseException | None = None


def _call(call: Callable[[Item], Result], item: Item) -> Outcome[Item, Result]:
    try:
        return Outcome(item, result=call(item))
    except Exception as error:
        return Outcome(item, error=error)


def run_concurrently(
    call: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    workers: int | Callable[[], int],
    stop_taking: threading.Event | None = None,
) -> Generator[Outcome[Item, Result], None, None]:
    """Yield an :class:`Outcome` for each item, in completion order, calling ``call`` on ``workers`` threads.

    The first item is called alone, before any thread starts: if its outcome makes the consumer stop
    (a rejected API key, say), nothing else was sent. Setting ``stop_taking`` stops the workers from
    taking new items while the calls already under way still finish and are yielded, so every item
    sent is accounted for. Closing the generator early (``break``, an exception in the consumer)
    stops them too, but drops the outcomes of calls under way.

    :param call: the function to call once per item; its exceptions become ``Outcome.error``.
    :param items: the items, consumed lazily.
    :param workers: how many calls may run at once (at least 1), or a function that says so once the
        first call is done (what it answered may change the answer: a budget the server stated).
    :param stop_taking: an event the consumer sets to end the run after the calls under way.
    """
    if not callable(workers):
        _check_workers(workers)
    source = iter(items)
    stop_taking = stop_taking or threading.Event()
    if stop_taking.is_set():
        return
    for first in source:
        yield _call(call, first)
        break
    else:
        return
    for second in source if not stop_taking.is_set() else ():  # no threads for a single item
        pool_size = _check_workers(workers() if callable(workers) else workers)
        yield from _WorkerPool(call, itertools.chain([second], source), pool_size, stop_taking).outcomes()
        break


def _check_workers(workers: int) -> int:
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    return workers


class _WorkerPool(Generic[Item, Result]):
    """``workers`` threads that take items from one iterator and queue each call's :class:`Outcome`."""

    def __init__(
        self, call: Callable[[Item], Result], source: Iterator[Item], workers: int, stop_taking: threading.Event
    ) -> None:
        self.call = call
        self.source = source
        self.source_lock = threading.Lock()
        self.stop_taking = stop_taking
        self.stop = threading.Event()  # set when the consumer is done: the workers end
        self.results: queue.Queue[Any] = queue.Queue(maxsize=workers * 2)
        self.threads = [threading.Thread(target=self._work, name=f"quo-bulk-{n}", daemon=True) for n in range(workers)]

    def _next_item(self) -> tuple[bool, Any]:
        with self.source_lock:
            if self.stop.is_set() or self.stop_taking.is_set():
                return False, None
            try:
                return True, next(self.source)
            except StopIteration:
                return False, None

    def _put(self, value: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.results.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            while True:
                more, item = self._next_item()
                if not more or not self._put(_call(self.call, item)):
                    break
        except BaseException as error:  # e.g. the items iterable itself failed
            self._put(error)
        finally:
            self._put(_DONE)

    def outcomes(self) -> Generator[Outcome[Item, Result], None, None]:
        """Start the workers and yield each outcome as it lands; closing it stops them."""
        for thread in self.threads:
            thread.start()
        running = len(self.threads)
        try:
            while running:
                value = self.results.get()
                if value is _DONE:
                    running -= 1
                elif isinstance(value, BaseException):
                    raise value
                else:
                    yield value
        finally:
            self.stop.set()
            # Daemon threads: a call stuck in its retries is not waited for past the deadline.
            deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
            for thread in self.threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
