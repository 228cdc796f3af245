"""Run one call per item on a bounded pool of threads (the standard library's), yielding outcomes as they
complete. Memory stays flat however many items there are: at most ``workers`` items are taken from the
iterator ahead of the consumer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_NO_ITEM: Any = object()


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
    (a rejected API key, say), nothing else was sent. Setting ``stop_taking`` stops taking new items
    while the calls already under way still finish and are yielded, so every item sent is accounted
    for. Closing the generator early (``break``, an exception in the consumer) sets ``stop_taking``, waits
    for the calls under way (a request on the wire ends within its deadline) and drops their outcomes.

    :param call: the function to call once per item; its exceptions become ``Outcome.error``.
    :param items: the items, consumed lazily.
    :param workers: how many calls may run at once (at least 1), or a function that says so once the
        first call is done (what it answered may change the answer: a budget the server stated).
    :param stop_taking: an event the consumer sets to end the run after the calls under way.
    """
    if not callable(workers):
        _check_workers(workers)
    source = iter(items)
    stop = stop_taking or threading.Event()
    first = _NO_ITEM if stop.is_set() else next(source, _NO_ITEM)
    if first is _NO_ITEM:
        return
    yield _call(call, first)
    second = _NO_ITEM if stop.is_set() else next(source, _NO_ITEM)
    if second is _NO_ITEM:  # no threads for a single item
        return
    size = _check_workers(workers() if callable(workers) else workers)
    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="quo-bulk")
    pending: set[Future[Outcome[Item, Result]]] = {pool.submit(_call, call, second)}
    try:
        while True:
            while len(pending) < size and not stop.is_set():
                item = next(source, _NO_ITEM)
                if item is _NO_ITEM:
                    break
                pending.add(pool.submit(_call, call, item))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)
    finally:
        stop.set()  # closed early: calls waiting for their slot or retry end at once; those on the wire finish
        pool.shutdown(wait=True, cancel_futures=True)


def _check_workers(workers: int) -> int:
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    return workers
