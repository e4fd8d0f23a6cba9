"""The search modes over one phase attempt: ``scan``, ``index`` and ``trigram``.

All three apply the one definition of ``etl_artifacts.search.text`` and page the matches the same
way, so they return identical results; they differ only in what they read:

- scan: every row group of every data chunk (all columns), text built on the fly;
- index: the ``_searchable`` column of every row group of a current ``index.parquet``;
- trigram: only the ``index.parquet`` row groups that the trigram postings allow (see
  ``etl_artifacts.search.trigrams``).

Row groups are read a few at a time (``reader.ordered_map``); only match positions are kept, and
``chunk``/``row`` are read only for the row groups that hold the requested page.

An ``index.parquet`` that cannot be read is a ``StorageError`` (502, CONTRACT §4: unreadable
parquet); one that is readable but has the wrong schema is treated as not current (scan, with a
warning), exactly like a stale one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from etl_artifacts.attempts import SOURCES_METADATA_KEY, AttemptObjects, S3Object, decode_sources
from etl_artifacts.deadline import current_deadline
from etl_artifacts.observability import logger
from etl_artifacts.parquet import footers
from etl_artifacts.search import reader
from etl_artifacts.search.text import SEARCHABLE_COLUMN, matching_rows, normalize_keyword, searchable_text

Ref = tuple[int, int]


@dataclass
class PageCollector:
    """Counts matches in order and keeps the refs of the window ``[offset, offset + limit)``."""

    offset: int
    limit: int
    total: int = 0
    refs: list[Ref] = field(default_factory=list)

    def add(self, count: int, refs_between: Callable[[int, int], list[Ref]]) -> None:
        start, end = self.total, self.total + count
        low, high = max(self.offset, start), min(self.offset + self.limit, end)
        if low < high:
            self.refs.extend(refs_between(low - start, high - start))
        self.total = end


# --------------------------------------------------------------------------- scan


#: Compressed bytes of data row groups read (and rendered) at once in scan mode: consecutive
#: row groups of a chunk are contiguous, so one coalesced range request fetches them.
SCAN_READ_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class DataBatch:
    obj: S3Object
    row_groups: tuple[int, ...]  # consecutive row groups of the chunk
    first_row: int  # row number (inside the chunk) of the batch's first row


def data_batches(data: list[S3Object], budget: int = SCAN_READ_BYTES) -> list[DataBatch]:
    units: list[DataBatch] = []
    for obj, metadata in zip(data, footers.footers(data), strict=True):
        firsts = [0]
        for index in range(metadata.num_row_groups):
            firsts.append(firsts[-1] + metadata.row_group(index).num_rows)
        for batch in row_group_batches(metadata, list(range(metadata.num_row_groups)), budget):
            units.append(DataBatch(obj, tuple(batch), firsts[batch[0]]))
    return units


def scan(attempt: AttemptObjects, needle: str, offset: int, limit: int) -> tuple[int, list[Ref]]:
    def matches(unit: DataBatch) -> pa.Array:
        table = footers.read_row_groups(unit.obj, list(unit.row_groups))
        return matching_rows(searchable_text(table), needle)

    collector = PageCollector(offset, limit)
    units = data_batches(attempt.data)
    deadline = current_deadline()
    deadline.check()  # the footers alone may have used the time
    slowest, last = 0.0, time.monotonic()
    # Two batches rendered at once (rendering is CPU-bound; more threads would only add memory).
    for number, (unit, positions) in enumerate(
        zip(units, reader.ordered_map(matches, units, workers=2), strict=True), start=1
    ):
        # Stop (503) while there is still time to answer, if the next batch may not finish in time.
        slowest, last = max(slowest, time.monotonic() - last), time.monotonic()
        if number < len(units):
            deadline.check(needed_s=slowest)
        chunk, first = unit.obj.chunk or 0, unit.first_row

        def refs_between(
            a: int, b: int, positions: pa.Array = positions, chunk: int = chunk, first: int = first
        ) -> list[Ref]:
            return [(chunk, first + int(i)) for i in positions[a:b].to_pylist()]

        collector.add(len(positions), refs_between)
    return collector.total, collector.refs


# --------------------------------------------------------------------------- index


_INDEX_TYPES: dict[str, Callable[[pa.DataType], bool]] = {
    "chunk": pa.types.is_integer,
    "row": pa.types.is_integer,
    SEARCHABLE_COLUMN: lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
}


def current_index(attempt: AttemptObjects) -> pq.FileMetaData | None:
    """The footer of ``index.parquet`` when it is current (CONTRACT §2), else ``None``."""
    if attempt.index is None:
        return None
    metadata = footers.footer(attempt.index)
    schema = metadata.schema.to_arrow_schema()
    for name, accepts in _INDEX_TYPES.items():
        index = schema.get_field_index(name)
        if index < 0 or not accepts(schema.field(index).type):
            logger.warning("index.parquet has an unexpected schema; scanning instead")
            return None
    sources = decode_sources((schema.metadata or {}).get(SOURCES_METADATA_KEY))
    if sources != attempt.sources():
        return None
    return metadata


#: Compressed bytes of index row groups fetched by one read. The index's ``chunk``/``row`` column
#: chunks are tiny, so the ``_searchable`` chunks of consecutive row groups are adjacent and one
#: coalesced range request fetches them all: few requests, bounded memory per read.
INDEX_READ_BYTES = 16 * 1024 * 1024
_INDEX_COLUMNS = ["chunk", "row", SEARCHABLE_COLUMN]


def row_group_batches(
    metadata: pq.FileMetaData, groups: list[int], budget: int = INDEX_READ_BYTES
) -> list[list[int]]:
    """Consecutive runs of ``groups`` (ascending) cut at ``budget`` compressed bytes each."""
    batches: list[list[int]] = []
    size = 0
    for group in groups:
        columns = metadata.row_group(group)
        group_bytes = sum(columns.column(i).total_compressed_size for i in range(columns.num_columns))
        if batches and batches[-1][-1] == group - 1 and size + group_bytes <= budget:
            batches[-1].append(group)
            size += group_bytes
        else:
            batches.append([group])
            size = group_bytes
    return batches


def index_search(
    attempt: AttemptObjects,
    needle: str,
    offset: int,
    limit: int,
    row_groups: list[int] | None = None,
) -> tuple[int, list[Ref]]:
    """Match ``_searchable`` of the given (default: all) row groups of the current index."""
    index_obj = attempt.index
    assert index_obj is not None
    metadata = footers.footer(index_obj)
    groups = list(range(metadata.num_row_groups)) if row_groups is None else sorted(row_groups)

    def matches(batch: list[int]) -> tuple[pa.Array, pa.Array]:
        table = footers.read_row_groups(index_obj, batch, _INDEX_COLUMNS)
        positions = matching_rows(table.column(SEARCHABLE_COLUMN), needle)
        return table.column("chunk").take(positions).combine_chunks(), table.column("row").take(
            positions
        ).combine_chunks()

    collector = PageCollector(offset, limit)
    batches = row_group_batches(metadata, groups)
    for chunks, rows in reader.ordered_map(matches, batches):

        def refs_between(a: int, b: int, chunks: pa.Array = chunks, rows: pa.Array = rows) -> list[Ref]:
            return list(zip(chunks[a:b].to_pylist(), rows[a:b].to_pylist(), strict=True))

        collector.add(len(chunks), refs_between)
    return collector.total, collector.refs


def normalized(keyword: str) -> str:
    return normalize_keyword(keyword)
