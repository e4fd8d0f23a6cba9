"""Parquet footers kept while the function is warm, keyed by ``(key, ETag, size)``.

A rewritten object has another ETag or size, so it is never served from a stale footer. The
size from the LIST spares the HEAD request pyarrow would otherwise make per file: a footer costs
one tail range GET (two when it exceeds 64 KiB).

Each ``ArtifactStore`` holds one (``store.footers``, reading through the store's file system and
bucket). The cache is bounded by bytes (``artifact_store.FOOTER_CACHE_BYTES``), not entries: a
parsed footer holds about 8x its serialized size in memory (measured: 8.2x for footers of 10 KB to
540 KB, plus ~6 KB per file), and one wide file with many row groups can weigh megabytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow.fs import FileSystem

from etl_artifacts.parquet.byte_lru import ByteLRU
from etl_artifacts.parquet.decoded import dictionary_columns, stored_bytes
from etl_artifacts.parquet.driver_errors import DRIVER_ERRORS
from etl_artifacts.parquet.pool import map_concurrently
from etl_artifacts.s3.listing import S3Object
from etl_artifacts.storage_errors import storage_error

#: In-memory bytes of a parsed footer per serialized byte, and per file (see the docstring).
_MEMORY_PER_SERIALIZED_BYTE = 9
_MEMORY_PER_FILE = 8 * 1024

_FORMAT = ds.ParquetFileFormat(
    # Coalesced range reads of the requested column chunks; no cache beyond the request.
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True)
)


class Footer:
    """One object's footer, as a dataset fragment that knows its size and metadata: reading its
    row groups later costs only the GETs of their column chunks."""

    def __init__(
        self, obj: S3Object, fragment: ds.ParquetFileFragment, opener: Callable[[], Any] | None = None
    ) -> None:
        self.obj = obj
        self.fragment = fragment
        #: For a footer seeded from the layout file: opens the object as a new file object per
        #: read. Reads through one Python file object take turns, so each read gets its own.
        self.opener = opener
        self.metadata: pq.FileMetaData = fragment.metadata
        self.schema: pa.Schema = fragment.physical_schema
        # Row counts per row group, once: every page plans its reads from them.
        self.row_counts: tuple[int, ...] = tuple(
            self.metadata.row_group(group).num_rows for group in range(self.metadata.num_row_groups)
        )
        # String columns read as Arrow dictionaries (memory bounded by decoded size, decoded.py).
        self.dictionary_columns: tuple[str, ...] = tuple(dictionary_columns(self.metadata, self.schema))
        self._source: pa.NativeFile | None = None
        self._source_lock = threading.Lock()

    def source(self) -> pa.NativeFile:
        """The object opened for random access (reads at offsets are thread-safe), kept with the
        footer: opening costs a HEAD (pyarrow asks S3 for the size), once per warm entry. Opened
        on first use, not with the footer: most footers are read for their row counts only, and
        ten HEADs beside ten footer GETs lengthen the chain more than the one HEAD of the chunk
        read (measured with bench/bench_s3model.py, cold footers)."""
        if self.opener is not None:
            return pa.PythonFile(self.opener(), mode="r")
        with self._source_lock:
            if self._source is None:
                self._source = self.fragment.open()
            return self._source

    @property
    def memory_bytes(self) -> int:
        """What this entry costs in memory (an estimate from the footer's serialized size)."""
        return _MEMORY_PER_SERIALIZED_BYTE * self.metadata.serialized_size + _MEMORY_PER_FILE

    @property
    def group_bytes(self) -> list[int]:
        """Uncompressed bytes of each row group (all its column chunks): what reading it holds
        (dictionary-encoded strings as dictionaries), never the compressed size."""
        return [stored_bytes(self.metadata, [group], None) for group in range(self.metadata.num_row_groups)]


FooterKey = tuple[str, str, int]


class FooterCache:
    """``Footer``s by object (key + ETag + size) of one bucket, read through ``filesystem``, least
    recently used out first, within ``max_bytes``; missing ones are read concurrently on the shared
    pool."""

    def __init__(self, filesystem: FileSystem, bucket: str, max_bytes: int) -> None:
        self.filesystem = filesystem
        self.bucket = bucket
        self._entries: ByteLRU[FooterKey, Footer] = ByteLRU(max_bytes)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._entries.bytes

    def clear(self) -> None:
        self._entries.clear()

    @staticmethod
    def key(obj: S3Object) -> FooterKey:
        return (obj.key, obj.etag, obj.size)

    def cached(self, obj: S3Object) -> Footer | None:
        """The kept footer of ``obj`` (same key, ETag and size), without reading anything."""
        return self._entries.get(self.key(obj))

    def put(self, entry: Footer) -> None:
        """Keep ``entry`` (its fragment must read through this cache's ``filesystem``)."""
        self._entries.put(self.key(entry.obj), entry, entry.memory_bytes)

    def _load(self, obj: S3Object) -> Footer:
        try:
            fragment = _FORMAT.make_fragment(
                f"{self.bucket}/{obj.key}", filesystem=self.filesystem, file_size=obj.size
            )
            fragment.ensure_complete_metadata()
            entry = Footer(obj, fragment)
        except DRIVER_ERRORS as exc:
            raise storage_error(exc, "footer") from exc
        self.put(entry)
        return entry

    def get_many(self, objects: Sequence[S3Object]) -> list[Footer]:
        """Footers of ``objects`` in order; the uncached ones are read concurrently."""
        found = [self.cached(obj) for obj in objects]
        missing = [obj for obj, entry in zip(objects, found, strict=True) if entry is None]
        if missing:
            loaded = iter(map_concurrently(self._load, missing))
            found = [entry if entry is not None else next(loaded) for entry in found]
        return [entry for entry in found if entry is not None]

    def get(self, obj: S3Object) -> Footer:
        return self.get_many([obj])[0]

    def seed(self, found: Sequence[tuple[S3Object, Callable[[], Any]]]) -> None:
        """Keep footers read elsewhere: each object with an opener of file objects of it whose
        footer is at hand (``parquet.layout_file``), parsed as a fetched footer is. All or none: a
        footer that does not parse raises (``DRIVER_ERRORS``) before any is kept."""
        entries = []
        for obj, opener in found:
            fragment = _FORMAT.make_fragment(opener())
            fragment.ensure_complete_metadata()
            entries.append(Footer(obj, fragment, opener))
        for entry in entries:
            if self.cached(entry.obj) is None:
                self.put(entry)
