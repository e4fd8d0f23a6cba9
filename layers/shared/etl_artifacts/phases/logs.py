"""Logs pages with the ``level``/``keyword`` filters pushed into the read, and NDJSON streaming.

Filtering reads only the ``level``/``message`` columns, row group by row group (row groups whose
``level`` statistics exclude the wanted level are never read), to find the matching row numbers;
a JSON page then fetches just its rows with ``ChunkSet.take``. Matching row numbers are
kept for the warm function (keyed by the chunks' key/ETag/size and the filters), so the next
pages cost one read. ``keyword`` is a literal, case-insensitive substring of ``message``: both
sides lower-cased with ``utf8_lower``, matched with ``match_substring`` (not a pattern, so ``%``,
``_`` and regex characters match themselves).

NDJSON: all matching rows in order, read row group by row group (the next one prefetched while
the current one is rendered), until the next line would not fit in ``NDJSON_MAX_BYTES``; the
position of that line is returned for the continuation token. A single line larger than the
limit is still sent alone, so a stream always makes progress.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl_artifacts.parquet.byte_lru import ByteLRU
from etl_artifacts.parquet.chunkset import ChunkSet, conform
from etl_artifacts.parquet.paging import Ref, RowLayout, group_starts, page_window
from etl_artifacts.parquet.pool import executor, map_concurrently
from etl_artifacts.parquet.render import dumps_row, render_rows
from etl_artifacts.phases.models import ParquetPageResponse
from etl_artifacts.phases.pages import page_of, page_of_refs
from etl_artifacts.s3_listing import S3Object

#: Bytes of matching row numbers kept while warm (8 per matching row): 16M rows at most. A
#: filter matching more rows than that is recomputed for every page instead of being kept.
MATCH_CACHE_BYTES = 128 * 1024 * 1024
_RENDER_BATCH = 1_000


@dataclass(frozen=True)
class LogFilter:
    level: str | None = None
    keyword: str | None = None

    @property
    def active(self) -> bool:
        return self.level is not None or self.keyword is not None

    @property
    def columns(self) -> list[str]:
        return [name for name, used in (("level", self.level), ("message", self.keyword)) if used is not None]

    @cached_property
    def needle(self) -> str | None:
        # Lower-cased by arrow, exactly like the messages it is compared with.
        return None if self.keyword is None else str(pc.utf8_lower(pa.scalar(self.keyword)).as_py())

    def skips(self, row_group: pq.RowGroupMetaData) -> bool:
        """True when the row group's ``level`` statistics prove no row has the wanted level."""
        if self.level is None:
            return False
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            if column.path_in_schema != "level":
                continue
            stats = column.statistics
            if stats is None or not stats.has_min_max:
                return False
            low, high = _text(stats.min), _text(stats.max)
            if low is None or high is None:
                return False
            return bool(self.level < low or self.level > high)
        return False

    def mask(self, table: pa.Table) -> pa.Array:
        """Rows of ``table`` that match (never null)."""
        result: Any = pa.scalar(True)
        if self.level is not None:
            level = _strings(table, "level")
            if level is None:
                return pa.repeat(False, table.num_rows)
            result = pc.and_kleene(result, pc.equal(level, self.level))
        if self.needle is not None:
            message = _strings(table, "message")
            if message is None:
                return pa.repeat(False, table.num_rows)
            result = pc.and_kleene(result, pc.match_substring(pc.utf8_lower(message), self.needle))
        if isinstance(result, pa.Scalar):
            return pa.repeat(True, table.num_rows)
        mask = pc.fill_null(result, False)
        return mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else None


def _strings(table: pa.Table, name: str) -> Any:
    if name not in table.column_names:
        return None
    column = table.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    return column


# ---------------------------------------------------------------------------------------------
# Matching row numbers (per chunk), cached while warm
# ---------------------------------------------------------------------------------------------
_matches: ByteLRU[tuple[Any, ...], list[pa.Array]] = ByteLRU(MATCH_CACHE_BYTES)


def clear_cache() -> None:
    _matches.clear()


def _row_groups(chunks: ChunkSet, index: int, flt: LogFilter) -> list[tuple[int, int, int]]:
    """``(chunk index, row group, first row of the group in the chunk)`` that may hold matches."""
    footer = chunks.footers[index]
    starts = group_starts(footer.row_counts)
    return [
        (index, group, starts[group])
        for group, rows in enumerate(footer.row_counts)
        if rows > 0 and not flt.skips(footer.metadata.row_group(group))
    ]


def matching_log_rows(chunks: ChunkSet, flt: LogFilter) -> list[pa.Array]:
    """Per chunk, the int64 row numbers (within that chunk) of the rows that match ``flt``."""
    objects = chunks.objects
    key = (tuple((o.key, o.etag, o.size) for o in objects), flt.level, flt.keyword)
    cached = _matches.get(key)
    if cached is not None:
        return cached
    # every footer, concurrently, before the row-group tasks
    groups = [item for index in range(len(chunks.footers)) for item in _row_groups(chunks, index, flt)]

    def scan(item: tuple[int, int, int]) -> pa.Array:
        index, group, start = item
        table = chunks.read_row_groups(index, [group], columns=flt.columns)
        return pc.add(pc.indices_nonzero(flt.mask(table)).cast(pa.int64()), start)

    found = map_concurrently(scan, groups)
    per_chunk: list[list[pa.Array]] = [[] for _ in objects]
    for (index, _, _), rows in zip(groups, found, strict=True):
        per_chunk[index].append(rows)
    result = [pa.concat_arrays(parts) if parts else pa.array([], pa.int64()) for parts in per_chunk]
    _matches.put(key, result, sum(rows.nbytes for rows in result))
    return result


def filtered_page(
    objects: Sequence[S3Object], flt: LogFilter, *, page: int, limit: int
) -> ParquetPageResponse:
    """Page ``page`` of the rows of ``objects`` that match ``flt``."""
    if not flt.active:
        return page_of(objects, page=page, limit=limit)
    per_chunk = matching_log_rows(ChunkSet(objects), flt)
    # Each chunk's matches as one "row group": the layout says which slice of each the page takes.
    layout = RowLayout.of([[len(rows)] for rows in per_chunk])
    refs: list[Ref] = []
    for index, _, first, count in layout.row_groups_for(*page_window(page, limit)):
        chunk = objects[index].chunk or 0
        refs.extend((chunk, row) for row in per_chunk[index].slice(first, count).to_pylist())
    return page_of_refs(objects, refs, page=page, limit=limit, total_rows=layout.total_rows)


# ---------------------------------------------------------------------------------------------
# NDJSON
# ---------------------------------------------------------------------------------------------
@dataclass
class NdjsonBody:
    text: str
    rows: int
    resume_at: Ref | None  # (chunk NNN, row) of the first row not sent


def _groups_from(chunks: ChunkSet, flt: LogFilter, resume: Ref) -> list[tuple[int, int, int]]:
    """The row groups that may hold matches at or after ``resume``."""
    chunk, row = resume
    groups: list[tuple[int, int, int]] = []
    for index, obj in enumerate(chunks.objects):
        if (obj.chunk or 0) < chunk:
            continue
        for item in _row_groups(chunks, index, flt):
            _, group, start = item
            ends = start + chunks.footers[index].row_counts[group]
            if (obj.chunk or 0) == chunk and ends <= row:
                continue
            groups.append(item)
    return groups


def _prefetched(
    chunks: ChunkSet, groups: list[tuple[int, int, int]]
) -> Generator[tuple[S3Object, int, pa.Table], None, None]:
    """Each row group's table, the next one already being read while the caller works.

    When the caller stops early (the body is full), the read in flight is cancelled if it has
    not started.
    """
    pool = executor()
    pending: Future[pa.Table] | None = None
    try:
        for position, (index, group, start) in enumerate(groups):
            current = pending or pool.submit(chunks.read_row_groups, index, [group])
            pending = None
            if position + 1 < len(groups):
                next_index, next_group, _ = groups[position + 1]
                pending = pool.submit(chunks.read_row_groups, next_index, [next_group])
            yield chunks.objects[index], start, current.result()
    finally:
        if pending is not None:
            pending.cancel()


def ndjson_body(
    objects: Sequence[S3Object], flt: LogFilter, *, resume: Ref | None, max_bytes: int
) -> NdjsonBody:
    """The matching rows from ``resume`` on, as NDJSON lines up to ``max_bytes``."""
    resume = resume or (0, 0)
    chunks = ChunkSet(objects)
    schema = chunks.schema
    tables = _prefetched(chunks, _groups_from(chunks, flt, resume))
    with closing(tables):
        return _lines(tables, flt, schema, resume, max_bytes)


def _lines(
    tables: Iterator[tuple[S3Object, int, pa.Table]],
    flt: LogFilter,
    schema: pa.Schema,
    resume: Ref,
    max_bytes: int,
) -> NdjsonBody:
    parts: list[str] = []
    used = 0
    sent = 0
    for obj, start, table in tables:
        chunk = obj.chunk or 0
        first = resume[1] - start if chunk == resume[0] and resume[1] > start else 0
        selected = pc.indices_nonzero(flt.mask(table)) if flt.active else pa.array(range(table.num_rows))
        selected = selected.cast(pa.int64())
        if first:
            selected = selected.filter(pc.greater_equal(selected, first))
        rows_in_chunk = pc.add(selected, start).to_pylist()
        conformed = conform(table, schema)
        for offset in range(0, len(selected), _RENDER_BATCH):
            batch = selected.slice(offset, _RENDER_BATCH)
            for index, row in enumerate(render_rows(conformed.take(batch))):
                line = dumps_row(row) + "\n"
                size = len(line.encode("utf-8"))
                if sent and used + size > max_bytes:
                    return NdjsonBody("".join(parts), sent, (chunk, rows_in_chunk[offset + index]))
                parts.append(line)
                used += size
                sent += 1
    return NdjsonBody("".join(parts), sent, None)
