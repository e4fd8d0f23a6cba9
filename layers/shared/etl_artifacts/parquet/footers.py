"""Parquet files in S3 through pyarrow's own S3 client, with footers cached for the warm function.

Everything that reads parquet for the API goes through this module:

- ``footers(objects)``: the ``pq.FileMetaData`` of each object; missing ones are read
  CONCURRENTLY (a thread pool; pyarrow releases the GIL) and cached, keyed by
  ``(key, etag, size)``, so a rewritten object is never served from a stale footer. The size
  from the LIST spares the HEAD request pyarrow would otherwise make per file.
- ``read_row_groups(obj, row_groups, columns)``: the one function that reads row data; fetches
  exactly those row groups' column chunks (coalesced range GETs).
- ``open_parquet(obj)``: a ``pq.ParquetFile`` over the cached footer and a cached S3 handle.
- ``read_rows(objects, refs)``: the rows ``(chunk NNN, row within chunk)`` in the given order,
  reading only the row groups that hold them.
- ``ChunkLayout``: where each (chunk, row group) starts in the rows numbered across chunks.

Driver failures (S3 errors, missing objects, corrupt parquet) become ``StorageError``; their
text (which names the bucket and key) is never logged or returned.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from etl_artifacts.attempts import S3Object
from etl_artifacts.clients import arrow_s3
from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.errors import StorageError
from etl_artifacts.observability import logger

T = TypeVar("T")

# pyarrow raises OSError (S3, network, missing object) and ArrowException (corrupt files,
# impossible casts); both mean "the artifact store could not be read".
DRIVER_ERRORS: tuple[type[BaseException], ...] = (OSError, pa.ArrowException)

_MAX_FOOTERS = 2048
_MAX_WORKERS = 16


class _Entry:
    """One object's footer, as a dataset fragment that knows its size and metadata.

    A fragment made with the size from the LIST needs no HEAD request: its footer costs one tail
    range GET, and reading row groups later only the GETs of their column chunks. The S3 handle
    behind ``open_parquet`` is opened (one HEAD) only if someone asks for a ParquetFile.
    """

    def __init__(self, obj: S3Object, fragment: ds.ParquetFileFragment) -> None:
        self.obj = obj
        self.fragment = fragment
        self.metadata: pq.FileMetaData = fragment.metadata
        self.schema: pa.Schema = fragment.physical_schema
        # Row counts per row group, once: every page plans its reads from them.
        self.row_counts: tuple[int, ...] = tuple(
            self.metadata.row_group(group).num_rows for group in range(self.metadata.num_row_groups)
        )
        self._handle: pa.NativeFile | None = None

    def handle(self) -> pa.NativeFile:
        if self._handle is None:
            try:
                self._handle = arrow_s3().open_input_file(arrow_path(self.obj))
            except DRIVER_ERRORS as exc:
                raise storage_error(exc, "open") from exc
        return self._handle


_lock = threading.Lock()
_cache: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
_executor: ThreadPoolExecutor | None = None
_FORMAT = ds.ParquetFileFormat(
    # Coalesced range reads of the requested column chunks; no cache beyond the request.
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=True)
)


def executor() -> ThreadPoolExecutor:
    """The function's shared I/O thread pool (created on first use, kept while warm)."""
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="parquet-io")
    return _executor


def map_concurrently(function: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
    """``[function(item) for item in items]``, on the pool when there is more than one item.

    Never call it from inside a pool task with more than one item (the pool could starve).
    """
    if len(items) <= 1:
        return [function(item) for item in items]
    return list(executor().map(function, items))


def clear_cache() -> None:
    """Forget cached footers and handles (tests)."""
    with _lock:
        _cache.clear()


def cache_size() -> int:
    return len(_cache)


def storage_error(exc: BaseException, action: str) -> StorageError:
    """Log the failure by type only and build the API error to raise ``from exc``."""
    logger.warning("parquet read failed", extra={"action": action, "error_type": type(exc).__name__})
    return StorageError()


def arrow_path(obj: S3Object) -> str:
    return f"{require_bucket(get_settings())}/{obj.key}"


def _cache_key(obj: S3Object) -> tuple[Any, ...]:
    # The filesystem identity is part of the key: a fragment reads through the client that made it.
    return (id(arrow_s3()), obj.key, obj.etag, obj.size)


def _cached(obj: S3Object) -> _Entry | None:
    key = _cache_key(obj)
    with _lock:
        entry = _cache.get(key)
        if entry is not None:
            _cache.move_to_end(key)
        return entry


def _load(obj: S3Object) -> _Entry:
    """Read the object's footer: one tail range GET (two when the footer exceeds 64 KiB)."""
    try:
        fragment = _FORMAT.make_fragment(arrow_path(obj), filesystem=arrow_s3(), file_size=obj.size)
        fragment.ensure_complete_metadata()
        entry = _Entry(obj, fragment)
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "footer") from exc
    with _lock:
        key = _cache_key(obj)
        _cache[key] = entry
        _cache.move_to_end(key)
        while len(_cache) > _MAX_FOOTERS:
            _cache.popitem(last=False)
    return entry


def _entries(objects: Sequence[S3Object]) -> list[_Entry]:
    found = [_cached(obj) for obj in objects]
    missing = [obj for obj, entry in zip(objects, found, strict=True) if entry is None]
    if missing:
        loaded = iter(map_concurrently(_load, missing))
        found = [entry if entry is not None else next(loaded) for entry in found]
    return [entry for entry in found if entry is not None]


def footer(obj: S3Object) -> pq.FileMetaData:
    return _entries([obj])[0].metadata


def footers(objects: Sequence[S3Object]) -> list[pq.FileMetaData]:
    """Footers of ``objects`` in order; the uncached ones are read concurrently."""
    return [entry.metadata for entry in _entries(objects)]


def row_counts(obj: S3Object) -> tuple[int, ...]:
    """Rows of each row group of ``obj``, from its (cached) footer."""
    return _entries([obj])[0].row_counts


def arrow_schemas(objects: Sequence[S3Object]) -> list[pa.Schema]:
    return [entry.schema for entry in _entries(objects)]


def open_parquet(obj: S3Object) -> pq.ParquetFile:
    """A ``pq.ParquetFile`` for ``obj`` built from the cached footer and a cached S3 handle.

    The first call for an object opens its handle (one HEAD); later calls make no request until
    data is read. Each call returns a new ParquetFile (they are not safe to share between
    threads); the handle underneath is shared (positional reads are thread-safe). Wrap reads in
    ``except DRIVER_ERRORS`` -> ``storage_error``, or use ``read_row_groups`` which does.
    """
    entry = _entries([obj])[0]
    # pre_buffer: the column chunks of the requested row groups are fetched in coalesced ranges.
    return pq.ParquetFile(entry.handle(), metadata=entry.metadata, pre_buffer=True)


def read_row_groups(
    obj: S3Object, row_groups: Sequence[int], columns: Sequence[str] | None = None
) -> pa.Table:
    """Exactly ``row_groups`` of ``obj`` (give them ascending), all columns or ``columns``.

    Only those row groups' column chunks are fetched (coalesced range GETs, no HEAD, the footer
    from the cache). Names in ``columns`` that the file lacks are skipped (absent from the result).
    Raises ``StorageError`` when S3 or the parquet fails.
    """
    entry = _entries([obj])[0]
    if columns is not None:
        present = set(entry.schema.names)
        columns = [name for name in columns if name in present]
    try:
        subset = entry.fragment.subset(row_group_ids=list(row_groups))
        return subset.to_table(columns=None if columns is None else list(columns), use_threads=True)
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "row_groups") from exc


# ---------------------------------------------------------------------------------------------
# Where rows are: row groups of chunks, rows numbered across chunks in chunk order
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkLayout:
    """Row-group boundaries of a list of objects, from their footers only."""

    objects: tuple[S3Object, ...]
    # Global start row of each (object index, row group), in order, and the row counts.
    starts: tuple[int, ...]
    spans: tuple[tuple[int, int, int], ...]  # (object index, row group, num_rows)
    object_starts: tuple[int, ...]
    total_rows: int

    @classmethod
    def of(cls, objects: Sequence[S3Object]) -> ChunkLayout:
        entries = _entries(objects)
        starts: list[int] = []
        spans: list[tuple[int, int, int]] = []
        object_starts: list[int] = []
        position = 0
        for index, entry in enumerate(entries):
            object_starts.append(position)
            for group, rows in enumerate(entry.row_counts):
                if rows <= 0:
                    continue
                starts.append(position)
                spans.append((index, group, rows))
                position += rows
        return cls(tuple(objects), tuple(starts), tuple(spans), tuple(object_starts), position)

    def row_groups_for(self, start: int, stop: int) -> list[tuple[int, int, int, int]]:
        """``(object index, row group, first row in group, rows)`` covering ``[start, stop)``."""
        stop = min(stop, self.total_rows)
        if start >= stop:
            return []
        out: list[tuple[int, int, int, int]] = []
        index = bisect.bisect_right(self.starts, start) - 1
        while index < len(self.spans) and self.starts[index] < stop:
            obj_index, group, rows = self.spans[index]
            group_start = self.starts[index]
            first = max(start, group_start) - group_start
            last = min(stop, group_start + rows) - group_start
            out.append((obj_index, group, first, last - first))
            index += 1
        return out


def unified_schema(objects: Sequence[S3Object]) -> pa.Schema:
    """One schema for rows from several chunks (types widened where chunks differ)."""
    schemas = arrow_schemas(objects)
    if not schemas:
        return pa.schema([])
    first = schemas[0]
    if all(schema.equals(first, check_metadata=False) for schema in schemas[1:]):
        return first
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "schema") from exc


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: missing ones null, types cast where needed."""
    if table.schema.equals(schema, check_metadata=False):
        return table
    try:
        columns = []
        for field in schema:
            index = table.schema.get_field_index(field.name)
            if index < 0:
                columns.append(pa.nulls(table.num_rows, field.type))
                continue
            column = table.column(index)
            columns.append(column if column.type == field.type else column.cast(field.type))
        return pa.Table.from_arrays(columns, schema=schema)
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "conform") from exc


def concat(tables: Iterable[pa.Table], schema: pa.Schema) -> pa.Table:
    conformed = [conform(table, schema) for table in tables]
    if not conformed:
        return schema.empty_table()
    if len(conformed) == 1:
        return conformed[0]
    return pa.concat_tables(conformed)


def read_rows(objects: list[S3Object], refs: list[tuple[int, int]]) -> pa.Table:
    """Rows of the chunked ``objects`` named by ``refs``, in the order of ``refs``.

    ``refs`` are ``(chunk NNN, row index within that chunk)``: ``S3Object.chunk`` and the 0-based
    row number inside that file (the ``chunk``/``row`` of ``index.parquet``). Only the row groups
    holding those rows are read (one read per chunk, chunks concurrently); every column is read.
    The table has the chunks' unified schema. Raises ``ValueError`` for a chunk that is not in
    ``objects`` or a row past its end, ``StorageError`` when S3 or the parquet fails.
    """
    schema = unified_schema(objects)
    if not refs:
        return schema.empty_table()
    by_chunk = {obj.chunk: obj for obj in objects}
    wanted: dict[int, set[int]] = {}
    for chunk, row in refs:
        if chunk not in by_chunk:
            raise ValueError("ref names a chunk that is not listed")
        wanted.setdefault(chunk, set()).add(row)

    chunks = sorted(wanted)
    plans: list[tuple[S3Object, list[int], dict[int, int]]] = []
    for chunk in chunks:
        obj = by_chunk[chunk]
        counts = row_counts(obj)
        group_starts: list[int] = []
        position = 0
        for rows in counts:
            group_starts.append(position)
            position += rows
        groups: set[int] = set()
        for row in wanted[chunk]:
            if not 0 <= row < position:
                raise ValueError("ref names a row past the end of its chunk")
            groups.add(bisect.bisect_right(group_starts, row) - 1)
        ordered = sorted(groups)
        # Row r of the chunk sits at (r - start of its group) + rows of the groups read before it.
        offsets: dict[int, int] = {}
        read_before = 0
        for group in ordered:
            offsets[group] = read_before - group_starts[group]
            read_before += counts[group]
        row_positions = {
            row: row + offsets[bisect.bisect_right(group_starts, row) - 1] for row in wanted[chunk]
        }
        plans.append((obj, ordered, row_positions))

    tables = map_concurrently(lambda plan: read_row_groups(plan[0], plan[1]), plans)
    base: dict[int, int] = {}
    position = 0
    for chunk, table in zip(chunks, tables, strict=True):
        base[chunk] = position
        position += table.num_rows
    positions_of = {chunk: plan[2] for chunk, plan in zip(chunks, plans, strict=True)}
    indices = [base[chunk] + positions_of[chunk][row] for chunk, row in refs]
    combined = concat(tables, schema)
    try:
        return combined.take(pa.array(indices, type=pa.int64()))
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "take") from exc
