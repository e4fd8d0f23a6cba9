"""The one I/O thread pool of a warm function (pyarrow releases the GIL while it waits on S3).

Tasks run in a copy of the submitting thread's context, so the invocation's deadline
(``etl_artifacts.deadline``) is checked inside them too: a task the caller left behind stops at
its next check instead of running on into the next invocation.

``map_concurrently`` runs a handful of independent reads at once; ``ordered_map`` streams many
items through the same pool with a bounded number in flight, so memory does not grow with them.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_MAX_WORKERS = 16
#: Row groups processed at once by default: enough to hide S3 latency and use both cores of a
#: Lambda, few enough to bound memory (at most ``2 * READ_WORKERS`` results are held).
READ_WORKERS = 4

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """The shared pool (created on first use, kept while warm)."""
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="parquet-io")
    return _executor


def submit(function: Callable[..., R], *args: Any) -> Future[R]:
    """``executor().submit`` in a copy of the caller's context (one copy per task: a context
    cannot be entered by two threads at once)."""
    return executor().submit(contextvars.copy_context().run, function, *args)


def map_concurrently(function: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
    """``[function(item) for item in items]``, on the pool when there is more than one item.

    Never call it from inside a pool task with more than one item (the pool could starve).
    """
    if len(items) <= 1:
        return [function(item) for item in items]
    futures = [submit(function, item) for item in items]
    try:
        return [future.result() for future in futures]
    finally:
        for future in futures:
            future.cancel()


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int = READ_WORKERS,
    lookahead: int | None = None,
    finish_started: bool = True,
) -> Iterator[R]:
    """``map(fn, items)`` on the shared pool, at most ``workers`` running at once, results in order.

    At most ``lookahead`` (default ``2 * workers``) results wait to be consumed; leaving the
    iterator early cancels what has not started and waits for what has (unless ``finish_started``
    is false: a caller answering before its deadline leaves the running calls behind). ``items``
    is consumed in the calling thread (it may itself be an ``ordered_map``); ``fn`` must not wait on the pool.
    """
    slots = threading.BoundedSemaphore(workers)
    pending_max = max(1, lookahead if lookahead is not None else 2 * workers)
    pending: list[Future[R]] = []

    def run(item: T) -> R:
        try:
            return fn(item)
        finally:
            slots.release()

    try:
        for item in items:
            slots.acquire()
            pending.append(submit(run, item))
            if len(pending) > pending_max:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    finally:
        # As a pool of its own would on exit: what has started finishes before the caller goes on
        # (e.g. the indexer removes its temporary directory next).
        running = [future for future in pending if not future.cancel()]
        if finish_started:
            wait(running)
