"""Parquet footers kept while the function is warm, keyed by ``(key, ETag, size)``.

A rewritten object has another ETag or size, so it is never served from a stale footer. The
size from the LIST spares the HEAD request pyarrow would otherwise make per file: a footer costs
one tail range GET (two when it exceeds 64 KiB).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from etl_artifacts.clients import arrow_s3
from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.parquet.driver_errors import DRIVER_ERRORS, storage_error
from etl_artifacts.parquet.pool import map_concurrently
from etl_artifacts.s3_listing import S3Object

_FORMAT = ds.ParquetFileFormat(
    # Coalesced range reads of the requested column chunks; no cache beyond the request.
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True)
)


def arrow_path(obj: S3Object) -> str:
    return f"{require_bucket(get_settings())}/{obj.key}"


class Footer:
    """One object's footer, as a dataset fragment that knows its size and metadata: reading its
    row groups later costs only the GETs of their column chunks."""

    def __init__(self, obj: S3Object, fragment: ds.ParquetFileFragment) -> None:
        self.obj = obj
        self.fragment = fragment
        self.metadata: pq.FileMetaData = fragment.metadata
        self.schema: pa.Schema = fragment.physical_schema
        # Row counts per row group, once: every page plans its reads from them.
        self.row_counts: tuple[int, ...] = tuple(
            self.metadata.row_group(group).num_rows for group in range(self.metadata.num_row_groups)
        )

    @property
    def group_bytes(self) -> list[int]:
        """Compressed bytes of each row group (all its column chunks)."""
        out = []
        for group in range(self.metadata.num_row_groups):
            row_group = self.metadata.row_group(group)
            out.append(sum(row_group.column(i).total_compressed_size for i in range(row_group.num_columns)))
        return out


class FooterCache:
    """An LRU of ``Footer``s; missing ones are read concurrently on the shared pool."""

    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], Footer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @staticmethod
    def _key(obj: S3Object) -> tuple[Any, ...]:
        # The filesystem identity is part of the key: a fragment reads through the client that made it.
        return (id(arrow_s3()), obj.key, obj.etag, obj.size)

    def _cached(self, obj: S3Object) -> Footer | None:
        key = self._key(obj)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def _load(self, obj: S3Object) -> Footer:
        try:
            fragment = _FORMAT.make_fragment(arrow_path(obj), filesystem=arrow_s3(), file_size=obj.size)
            fragment.ensure_complete_metadata()
            entry = Footer(obj, fragment)
        except DRIVER_ERRORS as exc:
            raise storage_error(exc, "footer") from exc
        with self._lock:
            key = self._key(obj)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry

    def get_many(self, objects: Sequence[S3Object]) -> list[Footer]:
        """Footers of ``objects`` in order; the uncached ones are read concurrently."""
        found = [self._cached(obj) for obj in objects]
        missing = [obj for obj, entry in zip(objects, found, strict=True) if entry is None]
        if missing:
            loaded = iter(map_concurrently(self._load, missing))
            found = [entry if entry is not None else next(loaded) for entry in found]
        return [entry for entry in found if entry is not None]

    def get(self, obj: S3Object) -> Footer:
        return self.get_many([obj])[0]


#: The warm function's footers (one process, one cache).
FOOTERS = FooterCache()


def clear_cache() -> None:
    """Forget cached footers (tests)."""
    FOOTERS.clear()
