"""Row-group work for search and indexing, a few row groups at a time.

Parquet access itself goes through ``etl_artifacts.parquet.footers`` (the Phases function's
footer/handle cache, keyed by key+ETag+size, and its ``StorageError`` mapping), so a warm function
shares footers between pages and searches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Row groups processed at once: enough to hide S3 latency and use both cores of a Lambda,
#: few enough to bound memory (at most ``2 * READ_WORKERS`` results are held).
READ_WORKERS = 4


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int = READ_WORKERS, lookahead: int | None = None
) -> Iterator[R]:
    """``map(fn, items)`` on a few threads (pyarrow releases the GIL), results in order.

    At most ``lookahead`` (default ``2 * workers``) results wait to be consumed, so memory does not
    grow with the number of items; leaving the iterator early cancels what has not started.
    """
    iterator = iter(items)
    pending_max = max(1, lookahead if lookahead is not None else 2 * workers)
    pending: list[Future[R]] = []
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="search-read")
    try:
        for item in iterator:
            pending.append(pool.submit(fn, item))
            if len(pending) > pending_max:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    finally:
        # Never wait for reads still running: a caller leaving early (a deadline) answers now.
        pool.shutdown(wait=False, cancel_futures=True)
