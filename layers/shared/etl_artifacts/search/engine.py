"""The search modes over one phase attempt: ``scan``, ``index`` and ``trigram``.

All three apply the one definition of ``etl_artifacts.search.text`` and page the matches the same
way (``paging.PageCollector``), so they return identical results; they differ only in what they
read:

- scan: every row group of every data chunk (all columns), text built on the fly;
- index: the ``_searchable`` column of every row group of a current ``index.parquet``;
- trigram: only the ``index.parquet`` row groups that the trigram postings allow (the trigram
  file's format is in ``etl_artifacts.search.index_format``).

Every function takes the ``ArtifactStore`` the chunks are read through (its footers, and the trigram
files kept whole in ``store.postings``). Row groups are read a few at a time (``pool.ordered_map``);
only match positions are kept, and ``chunk``/``row`` are read only for the row groups that hold the
requested page.

An ``index.parquet`` that cannot be read is a ``StorageError`` (502, docs/api.md: unreadable
parquet); one that is readable but has the wrong schema is treated as not current (scan, with a
warning), exactly like a stale one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from etl_artifacts.deadline import current_deadline
from etl_artifacts.parquet.chunkset import ChunkSet
from etl_artifacts.parquet.paging import PageCollector, Ref, group_starts, row_group_batches
from etl_artifacts.parquet.pool import READ_WORKERS, ordered_map
from etl_artifacts.s3.artifact_store import ArtifactStore
from etl_artifacts.s3.attempts import AttemptObjects
from etl_artifacts.s3.listing import S3Object
from etl_artifacts.search import index_format
from etl_artifacts.search.text import SEARCHABLE_COLUMN, match_positions, searchable_text

# --------------------------------------------------------------------------- scan


#: Uncompressed bytes and rows of data row groups read (and rendered) at once in scan mode:
#: consecutive row groups of a chunk are contiguous, so one coalesced range request fetches them.
#: Cut by what the batch decodes to, never by its compressed size: 56 KB of zstd can hold
#: millions of nested rows, and the deadline is checked between batches.
SCAN_READ_BYTES = 8 * 1024 * 1024
SCAN_READ_ROWS = 65_536


@dataclass(frozen=True)
class DataBatch:
    chunk_index: int  # position of the chunk in the ChunkSet
    chunk: int  # its NNN
    row_groups: tuple[int, ...]  # consecutive row groups of the chunk
    first_row: int  # row number (inside the chunk) of the batch's first row


def data_batches(data: ChunkSet, budget: int = SCAN_READ_BYTES) -> list[DataBatch]:
    units: list[DataBatch] = []
    for index, (obj, footer) in enumerate(zip(data.objects, data.footers, strict=True)):
        starts = group_starts(footer.row_counts)
        groups = range(len(footer.row_counts))
        for batch in row_group_batches(footer.group_bytes, groups, budget, footer.row_counts, SCAN_READ_ROWS):
            units.append(DataBatch(index, obj.chunk_number, tuple(batch), starts[batch[0]]))
    return units


def scan(
    store: ArtifactStore, attempt: AttemptObjects, needle: str, offset: int, limit: int
) -> tuple[int, list[Ref]]:
    data = ChunkSet(store, attempt.data)

    def matches(unit: DataBatch) -> pa.Array:
        table = data.read_row_groups(unit.chunk_index, unit.row_groups)
        return match_positions(searchable_text(table), needle)

    collector = PageCollector(offset, limit)
    units = data_batches(data)
    deadline = current_deadline()
    deadline.check()  # the footers alone may have used the time
    slowest, last = 0.0, time.monotonic()
    # Two batches rendered at once (rendering is CPU-bound; more threads would only add memory).
    # Leaving early (the deadline) must not wait for the reads still running.
    batches = ordered_map(matches, units, workers=2, finish_started=False)
    for number, (unit, positions) in enumerate(zip(units, batches, strict=True), start=1):
        # Stop (503) while there is still time to answer, if the next batch may not finish in time.
        slowest, last = max(slowest, time.monotonic() - last), time.monotonic()
        deadline.check(needed_s=slowest if number < len(units) else 0.0)

        def refs_between(
            a: int, b: int, positions: pa.Array = positions, unit: DataBatch = unit
        ) -> list[Ref]:
            return [(unit.chunk, unit.first_row + int(i)) for i in positions[a:b].to_pylist()]

        collector.add(len(positions), refs_between)
    return collector.total, collector.refs


# --------------------------------------------------------------------------- index


def current_index(store: ArtifactStore, attempt: AttemptObjects) -> pq.FileMetaData | None:
    """The footer of ``index.parquet`` when it is current (docs/architecture.md), else ``None``."""
    if attempt.index is None:
        return None
    metadata = ChunkSet(store, [attempt.index]).metadata[0]
    return metadata if index_format.index_is_current(metadata, attempt.sources()) else None


def index_files_current(store: ArtifactStore, attempt: AttemptObjects) -> bool:
    """True when ``index.parquet`` and ``index_trigrams.parquet`` were both built from the data
    chunks listed now (the indexer then has nothing to do). Reads the two footers."""
    index_metadata = current_index(store, attempt)
    obj = attempt.extra.get(index_format.TRIGRAM_FILE)
    if index_metadata is None or obj is None:
        return False
    metadata = ChunkSet(store, [obj]).metadata[0]
    return index_format.trigram_file_is_current(metadata, index_metadata, attempt.sources())


#: Uncompressed bytes (and rows) of index row groups fetched by one read (64 MiB of text is about
#: 16 MiB of zstd). The index's ``chunk``/``row`` column chunks are tiny, so the ``_searchable``
#: chunks of consecutive row groups are adjacent and one coalesced range request fetches them all:
#: few requests, bounded memory per read.
INDEX_READ_BYTES = 64 * 1024 * 1024
INDEX_READ_ROWS = 262_144
#: Up to this many batches of trigram candidates are read at once.
CANDIDATE_READS_AT_ONCE = 12
_INDEX_COLUMNS = ["chunk", "row", SEARCHABLE_COLUMN]


def index_search(
    store: ArtifactStore,
    index_obj: S3Object,
    needle: str,
    offset: int,
    limit: int,
    row_groups: list[int] | None = None,
) -> tuple[int, list[Ref]]:
    """Match ``_searchable`` of the given (default: all) row groups of the current index."""
    index = ChunkSet(store, [index_obj])
    footer = index.footers[0]
    groups = list(range(len(footer.row_counts))) if row_groups is None else sorted(row_groups)

    def matches(batch: list[int]) -> tuple[pa.Array, pa.Array]:
        table = index.read_row_groups(0, batch, _INDEX_COLUMNS)
        positions = match_positions(table.column(SEARCHABLE_COLUMN), needle)
        chunks = table.column("chunk").take(positions).combine_chunks()
        return chunks, table.column("row").take(positions).combine_chunks()

    collector = PageCollector(offset, limit)
    batches = row_group_batches(
        footer.group_bytes, groups, INDEX_READ_BYTES, footer.row_counts, INDEX_READ_ROWS
    )
    deadline = current_deadline()
    deadline.check()
    # A few trigram candidates are read all at once (one round trip, not one per READ_WORKERS);
    # many (a common word) stream through the usual bounded number, which bounds memory.
    few = row_groups is not None and len(batches) <= CANDIDATE_READS_AT_ONCE
    workers = max(1, len(batches)) if few else READ_WORKERS
    for chunks, rows in ordered_map(matches, batches, workers=workers, finish_started=False):
        deadline.check()  # between batches of index entries: an answer in time, or a 503

        def refs_between(a: int, b: int, chunks: pa.Array = chunks, rows: pa.Array = rows) -> list[Ref]:
            return list(zip(chunks[a:b].to_pylist(), rows[a:b].to_pylist(), strict=True))

        collector.add(len(chunks), refs_between)
    return collector.total, collector.refs


# --------------------------------------------------------------------------- trigram


def trigram_candidates(
    store: ArtifactStore, attempt: AttemptObjects, index_metadata: pq.FileMetaData, needle: str
) -> list[int] | None:
    """The ``index.parquet`` row groups that may hold ``needle``; ``None`` when the trigram file
    cannot be used (missing, stale, other version or layout, keyword too short)."""
    obj = attempt.extra.get(index_format.TRIGRAM_FILE)
    if obj is None or not index_format.usable_keyword(needle):
        return None
    trigrams = ChunkSet(store, [obj])
    metadata = trigrams.metadata[0]  # unreadable -> StorageError, like any parquet (docs/api.md)
    if not index_format.trigram_file_is_current(metadata, index_metadata, attempt.sources()):
        return None
    codes = index_format.keyword_trigrams(needle)
    groups = index_format.row_groups_holding(metadata, codes)
    if not groups:
        return []
    postings = _cached_postings(obj, trigrams)
    if postings is None:
        postings = trigrams.read_row_groups(0, groups)
    return index_format.candidate_blocks(postings, codes)


#: A trigram file up to this size is read whole on its first use and kept while the function is
#: warm (keyed by ETag and size, so a rewritten file is read again): the candidates of every later
#: keyword then cost no request (``store.postings``, ``artifact_store.POSTINGS_CACHE_BYTES`` in all).
#: Bigger files are read per keyword, only the row groups it needs.
POSTINGS_CACHE_FILE_BYTES = 4 * 1024 * 1024


def _cached_postings(obj: S3Object, trigrams: ChunkSet) -> pa.Table | None:
    """The whole trigram file (cached in the store), or ``None`` when it is too big to keep."""
    if obj.size > POSTINGS_CACHE_FILE_BYTES:
        return None
    key = (obj.key, obj.etag, obj.size)
    postings = trigrams.store.postings
    table = postings.get(key)
    if table is None:
        table = trigrams.read_row_groups(0, range(len(trigrams.footers[0].row_counts)))
        postings.put(key, table, table.nbytes)
    return table
