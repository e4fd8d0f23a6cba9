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


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = READ_WORKERS) -> Iterator[R]:
    """``map(fn, items)`` on a few threads (pyarrow releases the GIL), results in order.

    The look-ahead is bounded, so memory does not grow with the number of items; leaving the
    iterator early cancels what has not started.
    """
    iterator = iter(items)
    if workers <= 1:
        yield from map(fn, iterator)
        return
    pending: list[Future[R]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="search-read") as pool:
        try:
            for item in iterator:
                pending.append(pool.submit(fn, item))
                if len(pending) >= 2 * workers:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            for future in pending:
                future.cancel()
