"""Parquet access for search and indexing: cached footers, row-group tasks run a few at a time.

Footers are cached for the life of a warm function, keyed by (key, ETag, size): an object that is
rewritten gets a new ETag, so a stale footer is never used. Each object is opened
once per search and shared by the threads that read its row groups; pyarrow releases the GIL
while it fetches and decodes.

Every S3 failure or unreadable parquet becomes ``StorageError`` (502) here, in one place.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from etl_artifacts.attempts import S3Object
from etl_artifacts.clients import arrow_s3
from etl_artifacts.errors import StorageError
from etl_artifacts.observability import logger

T = TypeVar("T")
R = TypeVar("R")

#: Row-group reads in flight at once: enough to hide S3 latency, few enough to bound memory.
READ_WORKERS = 4
_FOOTER_CACHE_SIZE = 512

_footers: OrderedDict[tuple[str, str, str, int], pq.FileMetaData] = OrderedDict()
_footers_lock = threading.Lock()

#: Errors that mean "the object could not be read as parquet" (network, missing, corrupt).
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, pa.ArrowException)


class ParquetSource:
    """Parquet objects of one bucket for the duration of one search or indexer run.

    Each S3 object is opened once (pyarrow issues one HEAD for its size) and the handle shared by
    the reading threads: positional reads of an S3 input file are thread-safe, and every read gets
    its own ``ParquetFile`` reader over it.
    """

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._handles: dict[str, pa.NativeFile] = {}
        self._lock = threading.Lock()

    def _handle(self, obj: S3Object) -> pa.NativeFile:
        with self._lock:
            handle = self._handles.get(obj.key)
        if handle is None:
            handle = arrow_s3().open_input_file(f"{self.bucket}/{obj.key}")
            with self._lock:
                handle = self._handles.setdefault(obj.key, handle)
        return handle

    def footer(self, obj: S3Object) -> pq.FileMetaData:
        """The parquet footer of ``obj`` (cached by key, ETag and size)."""
        cache_key = (self.bucket, obj.key, obj.etag, obj.size)
        with _footers_lock:
            cached = _footers.get(cache_key)
            if cached is not None:
                _footers.move_to_end(cache_key)
                return cached
        try:
            metadata = pq.ParquetFile(self._handle(obj)).metadata
        except READ_ERRORS as exc:
            logger.warning("parquet footer unreadable", extra={"error_type": type(exc).__name__})
            raise StorageError() from exc
        with _footers_lock:
            _footers[cache_key] = metadata
            while len(_footers) > _FOOTER_CACHE_SIZE:
                _footers.popitem(last=False)
        return metadata

    def read_row_group(self, obj: S3Object, index: int, columns: list[str] | None = None) -> pa.Table:
        """One row group (optionally only some columns), fetched with coalesced range reads."""
        metadata = self.footer(obj)
        try:
            parquet = pq.ParquetFile(self._handle(obj), metadata=metadata, pre_buffer=True)
            return parquet.read_row_group(index, columns=columns, use_threads=False)
        except READ_ERRORS as exc:
            logger.warning("parquet row group unreadable", extra={"error_type": type(exc).__name__})
            raise StorageError() from exc

    def close(self) -> None:
        with self._lock:
            handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            handle.close()

    def __enter__(self) -> ParquetSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def clear_footer_cache() -> None:
    with _footers_lock:
        _footers.clear()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = READ_WORKERS) -> Iterator[R]:
    """``map(fn, items)`` run on a few threads, results in order, at most ``2*workers`` pending.

    Bounded look-ahead keeps memory independent of the number of items; abandoning the iterator
    cancels what has not started.
    """
    iterator = iter(items)
    if workers <= 1:
        yield from map(fn, iterator)
        return
    pending: list[Future[R]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parquet-read") as pool:
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
