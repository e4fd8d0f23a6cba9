"""Logs pages with the ``level``/``keyword`` filters pushed into the read, and NDJSON streaming.

Filtering reads only the ``level``/``message`` columns, row group by row group (row groups whose
``level`` statistics exclude the wanted level are never read), to find the matching row numbers; a
JSON page then fetches just its rows with ``ChunkSet.take``. Matching row numbers are kept for the
warm function (``store.matches``, keyed by the chunks' key/ETag/size and the filters; a filter
matching more rows than ``artifact_store.MATCH_CACHE_BYTES`` holds is recomputed for every page
instead), so the next pages cost one read. ``keyword`` is a literal, case-insensitive substring of
``message``: both sides lower-cased with ``utf8_lower``, matched with ``match_substring`` (not a
pattern, so ``%``, ``_`` and regex characters match themselves).

Pages and NDJSON go oldest first (``order="asc"``) or newest first (``"desc"``): a newest-first
page takes its window from the end of the matches, and a newest-first stream reads the chunks
and their row groups from the last one back, never everything then reversing.

NDJSON: all matching rows in order, read row group by row group (the next one prefetched while
the current one is rendered), until the next line's payload cost (``payload.body_cost``: JSON-escaped, as
Lambda counts it, docs/limits.md) would not fit in the budget; the position of that line is returned
for the continuation token (``continuation_tokens.Position``, bound to the chunks passed). A
row whose line alone is larger than the budget could never be sent: it is replaced by an
``{"_omitted": {...}}`` line naming it (reason, row, bytes, artifact kind, chunk; the row is read
through the artifact download), and the stream goes on with the rows after it.
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

from etl_artifacts.deadline import check_deadline
from etl_artifacts.parquet.chunkset import ChunkSet, conform
from etl_artifacts.parquet.decoded import TEXT_COPIES, check_decoded, decoded_bytes
from etl_artifacts.parquet.paging import Ref, RowLayout, group_starts, newest_first, page_window
from etl_artifacts.parquet.pool import ordered_map, submit
from etl_artifacts.parquet.render import dumps_row, render_rows
from etl_artifacts.payload import body_cost
from etl_artifacts.phases.continuation_tokens import Position, position
from etl_artifacts.phases.models import Order
from etl_artifacts.phases.pages import Page, page_of, page_of_refs
from etl_artifacts.s3.artifact_store import ArtifactStore
from etl_artifacts.s3.listing import S3Object

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
        # Matching decodes the level/message dictionaries and lower-cases the messages.
        check_decoded(decoded_bytes(table), TEXT_COPIES)
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
# Matching row numbers (per chunk), cached while warm in the store
# ---------------------------------------------------------------------------------------------
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
    cached = chunks.store.matches.get(key)
    if cached is not None:
        return cached
    # every footer, concurrently, before the row-group tasks
    groups = [item for index in range(len(chunks.footers)) for item in _row_groups(chunks, index, flt)]

    def scan(item: tuple[int, int, int]) -> pa.Array:
        index, group, start = item
        table = chunks.read_row_groups(index, [group], columns=flt.columns)
        return pc.add(pc.indices_nonzero(flt.mask(table)).cast(pa.int64()), start)

    per_chunk: list[list[pa.Array]] = [[] for _ in objects]
    check_deadline()
    # Leaving early (the deadline) must not wait for the reads still running.
    found = ordered_map(scan, groups, finish_started=False)
    for (index, _, _), rows in zip(groups, found, strict=True):
        check_deadline()  # between row groups: a filter over many chunks stops in time (503)
        per_chunk[index].append(rows)
    result = [pa.concat_arrays(parts) if parts else pa.array([], pa.int64()) for parts in per_chunk]
    chunks.store.matches.put(key, result, sum(rows.nbytes for rows in result))
    return result


def filtered_page(
    store: ArtifactStore,
    objects: Sequence[S3Object],
    flt: LogFilter,
    *,
    page: int,
    limit: int,
    order: Order = "asc",
) -> Page:
    """Page ``page`` of the rows of ``objects`` that match ``flt``, oldest or newest first."""
    if not flt.active:
        return page_of(store, objects, page=page, limit=limit, order=order)
    per_chunk = matching_log_rows(ChunkSet(store, objects), flt)
    # Each chunk's matches as one "row group": the layout says which slice of each the page takes.
    layout = RowLayout.of([[len(rows)] for rows in per_chunk])
    window = page_window(page, limit)
    if order == "desc":
        window = newest_first(*window, layout.total_rows)
    refs: list[Ref] = []
    for index, _, first, count in layout.row_groups_for(*window):
        chunk = objects[index].chunk_number
        refs.extend((chunk, row) for row in per_chunk[index].slice(first, count).to_pylist())
    if order == "desc":
        refs.reverse()
    return page_of_refs(store, objects, refs, page=page, limit=limit, total_rows=layout.total_rows)


# ---------------------------------------------------------------------------------------------
# NDJSON
# ---------------------------------------------------------------------------------------------
@dataclass
class NdjsonBody:
    text: str
    rows: int
    stop: Position | None  # where the next response goes on; None when the stream is complete


@dataclass(frozen=True)
class _Visit:
    """A row group to read, and the rows ``[low, high)`` of its chunk the stream may still send."""

    index: int  # of the chunk in the ChunkSet
    group: int
    start: int  # first row of the group in its chunk
    low: int
    high: int


def _visits(chunks: ChunkSet, flt: LogFilter, order: Order, resume: Position | None) -> list[_Visit]:
    """The row groups that may hold rows still to send, in the stream's order (desc: from the end)."""
    visits: list[_Visit] = []
    indices = range(len(chunks.objects))
    for index in indices if order == "asc" else reversed(indices):
        number = chunks.objects[index].chunk_number
        counts = chunks.footers[index].row_counts
        low, high = 0, sum(counts)
        if resume is not None and order == "asc":
            if number < resume.chunk:
                continue
            if number == resume.chunk:
                low = resume.row
        elif resume is not None:
            if number > resume.chunk:
                continue  # wholly passed, or newer than the whole stream
            if number == resume.chunk:
                high = min(high, resume.row)
        groups = [
            _Visit(index, group, start, low, high)
            for _, group, start in _row_groups(chunks, index, flt)
            if start < high and start + counts[group] > low
        ]
        visits.extend(groups if order == "asc" else reversed(groups))
    return visits


def _prefetched(chunks: ChunkSet, visits: list[_Visit]) -> Generator[tuple[_Visit, pa.Table], None, None]:
    """Each row group's table, the next one already being read while the caller works.

    When the caller stops early (the body is full), the read in flight is cancelled if it has
    not started.
    """
    pending: Future[pa.Table] | None = None
    try:
        for position, visit in enumerate(visits):
            current = pending or submit(chunks.read_row_groups, visit.index, [visit.group])
            pending = None
            if position + 1 < len(visits):
                following = visits[position + 1]
                pending = submit(chunks.read_row_groups, following.index, [following.group])
            yield visit, current.result()
    finally:
        if pending is not None:
            pending.cancel()


def ndjson_body(
    store: ArtifactStore,
    objects: Sequence[S3Object],
    flt: LogFilter,
    *,
    order: Order,
    resume: Position | None,
    follow: bool,
    max_bytes: int,
    artifact_kind: str,
) -> NdjsonBody:
    """The matching rows after ``resume`` as NDJSON lines, while their payload cost (``payload.body_cost``)
    fits in ``max_bytes``; ``stop`` says where the next response goes on.

    ``artifact_kind`` (``{phase}-logs``) is named by the line that replaces a row too large to send.
    ``resume`` must have been checked against ``objects`` (``continuation_tokens.verify``). With
    ``follow`` (an ascending stream of an attempt still running) a stream that has sent every row
    still gets a position: the end of the last chunk, so new chunks and rows appended to the last
    one are what the next response sends.
    """
    chunks = ChunkSet(store, objects)
    schema = chunks.schema
    tables = _prefetched(chunks, _visits(chunks, flt, order, resume))
    with closing(tables):
        body = _lines(chunks, tables, flt, schema, order, resume, max_bytes, artifact_kind)
    if body.stop is None and follow and order == "asc":
        body.stop = _end_of(chunks, resume)
    return body


def _end_of(chunks: ChunkSet, resume: Position | None) -> Position:
    """The position after every row listed now (never before ``resume``)."""
    if chunks.objects:
        last = len(chunks.objects) - 1
        number = chunks.objects[last].chunk_number
        if resume is None or number >= resume.chunk:
            return position("asc", chunks.objects, number, sum(chunks.footers[last].row_counts))
    if resume is not None:
        return resume
    return position("asc", chunks.objects, 0, 0)


def _lines(
    chunks: ChunkSet,
    tables: Iterator[tuple[_Visit, pa.Table]],
    flt: LogFilter,
    schema: pa.Schema,
    order: Order,
    resume: Position | None,
    max_bytes: int,
    artifact_kind: str,
) -> NdjsonBody:
    parts: list[str] = []
    used = 0
    sent = 0
    # desc: the newest chunk when the stream began bounds the chunks it has passed.
    top = resume.top if resume is not None else chunks.objects[-1].chunk_number if chunks.objects else 0
    for visit, table in tables:
        check_deadline()
        number = chunks.objects[visit.index].chunk_number
        selected = pc.indices_nonzero(flt.mask(table)) if flt.active else pa.array(range(table.num_rows))
        selected = pc.add(selected.cast(pa.int64()), visit.start)  # rows within the chunk
        if visit.low > visit.start or visit.high < visit.start + table.num_rows:
            inside = pc.and_(pc.greater_equal(selected, visit.low), pc.less(selected, visit.high))
            selected = selected.filter(inside)
        if order == "desc":
            selected = selected[::-1]
        rows_in_chunk = selected.to_pylist()
        conformed = conform(table, schema)
        in_table = pc.subtract(selected, visit.start)
        for offset in range(0, len(in_table), _RENDER_BATCH):
            check_deadline()
            batch = in_table.slice(offset, _RENDER_BATCH)
            for index, row in enumerate(render_rows(conformed.take(batch))):
                row_number = rows_in_chunk[offset + index]
                line = dumps_row(row) + "\n"
                cost = body_cost(line)
                if cost > max_bytes:
                    line = _omitted_line(row_number, len(line.encode()) - 1, artifact_kind, number)
                    cost = body_cost(line)
                if sent and used + cost > max_bytes:
                    # asc: the rows before this one are behind; desc: this one and those before it remain.
                    stop = (
                        position("asc", chunks.objects, number, row_number)
                        if order == "asc"
                        else position("desc", chunks.objects, number, row_number + 1, top)
                    )
                    return NdjsonBody("".join(parts), sent, stop)
                parts.append(line)
                used += cost
                sent += 1
    return NdjsonBody("".join(parts), sent, None)


def _omitted_line(row: int, size: int, artifact_kind: str, chunk: int) -> str:
    """The line sent instead of a row too large for any response: where to download it from."""
    omitted = {
        "reason": "row_too_large",
        "row": row,
        "bytes": size,
        "artifact_kind": artifact_kind,
        "chunk": chunk,
    }
    return dumps_row({"_omitted": omitted}) + "\n"
