"""Build the search index of one phase attempt, streaming, and upload it (with the layout file).

``index.parquet`` (docs/architecture.md): ``chunk`` int32, ``row`` int64, ``_searchable`` string, one row
per data row in chunk order, schema metadata ``etl_artifacts.sources``. Written with zstd in row
groups of ``INDEX_ROW_GROUP_ROWS`` rows (the unit the trigram postings point at: small enough that
a candidate row group is a cheap read, large enough to keep the postings small).

Memory stays bounded whatever the number of rows: each data chunk is fetched with one GET to a
temporary file (the next one downloads meanwhile) and read one row group at a time (two in
flight), index rows are buffered only up to one index row group, the parquet writer streams to a
temporary file and the trigram postings are spilled to disk (``PostingsBuilder``). Each file is
then uploaded with one PUT (multipart only above ``SINGLE_PUT_MAX_BYTES``).

Idempotent: the same data chunks give the same rows, the same row groups and the same metadata,
so re-running produces an equivalent file.

The layout file (``parquet.layout_file``) is written in the same run from the staged chunks: each
one's footer, read before the chunk's temporary file goes.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl_artifacts.clients import s3_client
from etl_artifacts.deadline import check_deadline
from etl_artifacts.errors import StorageError
from etl_artifacts.observability import logger
from etl_artifacts.parquet.decoded import check_decoded, dictionary_columns, stored_bytes
from etl_artifacts.parquet.driver_errors import DRIVER_ERRORS
from etl_artifacts.parquet.layout_file import LAYOUT_FILE, footer_of, layout_is_current, write_layout
from etl_artifacts.parquet.paging import group_starts
from etl_artifacts.parquet.pool import map_concurrently, ordered_map
from etl_artifacts.s3.artifact_store import ArtifactStore, artifact_store
from etl_artifacts.s3.attempts import AttemptObjects, list_attempt_at
from etl_artifacts.s3.layout import AttemptLocation
from etl_artifacts.s3.listing import S3Object
from etl_artifacts.search.engine import index_files_current
from etl_artifacts.search.index_format import (
    INDEX_FILE,
    TRIGRAM_FILE,
    PostingsBuilder,
    index_schema,
    trigram_metadata,
)
from etl_artifacts.search.text import SEARCHABLE_COLUMN, searchable_text
from etl_artifacts.storage_errors import storage_error, storage_errors

INDEX_ROW_GROUP_ROWS = 16_384
SINGLE_PUT_MAX_BYTES = 1024 * 1024 * 1024
STAGE_BLOCK_BYTES = 1024 * 1024
#: A footer is read with one GET of the chunk's tail this long (pyarrow's own first read).
FOOTER_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class IndexResult:
    prefix: str
    chunks: int
    rows: int
    row_groups: int
    index_bytes: int
    trigram_bytes: int
    seconds: float
    skipped: bool = False  # the index files were current already: nothing was built or written
    layout_bytes: int = 0

    @property
    def bytes_written(self) -> int:
        return self.index_bytes + self.trigram_bytes + self.layout_bytes


class _IndexWriter:
    """Buffers index rows into fixed-size row groups; feeds each row group to the postings."""

    def __init__(self, path: Path, sources_json: str, postings: PostingsBuilder, row_group_rows: int) -> None:
        schema = index_schema(sources_json)
        self._writer = pq.ParquetWriter(
            str(path),
            schema,
            compression="zstd",
            compression_level=3,
            # chunk (dictionary/RLE) and row (delta) shrink to ~100 bytes per row group, so the
            # _searchable column chunks of consecutive row groups are adjacent: one range read.
            use_dictionary=["chunk"],
            column_encoding={"row": "DELTA_BINARY_PACKED"},
            write_statistics=["chunk", "row"],
        )
        self._schema = schema
        self._postings = postings
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._row_group_rows = row_group_rows
        self.rows = 0
        self.row_groups = 0

    def add(self, chunk: int, first_row: int, texts: pa.Array) -> None:
        count = len(texts)
        if count == 0:
            return
        table = pa.Table.from_arrays(
            [
                pa.repeat(pa.scalar(chunk, pa.int32()), count),
                pa.arange(first_row, first_row + count).cast(pa.int64()),
                texts,
            ],
            schema=self._schema,
        )
        self._pending.append(table)
        self._pending_rows += count
        while self._pending_rows >= self._row_group_rows:
            self._flush(self._row_group_rows)

    def _flush(self, rows: int) -> None:
        buffered = pa.concat_tables(self._pending)
        group, rest = buffered.slice(0, rows), buffered.slice(rows)
        self._writer.write_table(group, row_group_size=rows)
        self._postings.add_block(self.row_groups, group.column(SEARCHABLE_COLUMN))
        self.row_groups += 1
        self.rows += group.num_rows
        # Copy the remainder so the flushed row group's buffers can be freed.
        self._pending = [rest.combine_chunks()] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> None:
        if self._pending_rows:
            self._flush(self._pending_rows)
        self._writer.close()


def use_indexer_memory_pool() -> str:
    """Make jemalloc (else the system allocator) Arrow's default pool for this process.

    Measured with the benchmark data set: with pyarrow's default mimalloc pool the peak RSS of
    indexing 1M rows was 1.43x that of 100k rows (freed segments are retained and fragment);
    with jemalloc it is ~1.25x. Called by the indexer's entry points (Lambda, CLI), which own
    their process; buffers already allocated keep their own pool, so switching is safe.
    """
    for factory in (pa.jemalloc_memory_pool, pa.system_memory_pool):
        try:
            pool = factory()
        except (NotImplementedError, pa.ArrowNotImplementedError):
            continue
        pa.set_memory_pool(pool)
        return str(pool.backend_name)
    return str(pa.default_memory_pool().backend_name)


def stage_chunk(obj: S3Object, bucket: str, directory: Path) -> Path:
    """Download one data chunk to ``directory`` with ONE streamed GET, pinned to the listed ETag.

    Reading the chunk row group by row group from local disk costs one request instead of one
    or more per row group, and ``IfMatch`` guarantees the index is built from exactly the
    objects recorded in its sources (a chunk rewritten meanwhile fails this run; the next event
    indexes the new one).
    """
    path = directory / f"chunk-{obj.chunk_number:06d}.parquet"
    with storage_errors("fetch data chunk"):
        response = s3_client().get_object(Bucket=bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')
        with path.open("wb") as sink:
            for block in response["Body"].iter_chunks(STAGE_BLOCK_BYTES):
                sink.write(block)
    return path


@dataclass(frozen=True)
class _Unit:
    """One row group of a staged data chunk."""

    obj: S3Object
    path: Path
    metadata: pq.FileMetaData
    row_group: int
    first_row: int
    last: bool  # the chunk's last row group: its staged file can go once this one is done


def _units(obj: S3Object, path: Path) -> Iterator[_Unit]:
    try:
        metadata = pq.ParquetFile(str(path)).metadata
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "read data chunk footer") from exc
    counts = [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]
    for group, first in enumerate(group_starts(counts)):
        yield _Unit(obj, path, metadata, group, first, group == metadata.num_row_groups - 1)


def _texts_of(unit: _Unit) -> pa.Array:
    check_deadline()
    # Memory bounded by decoded size (parquet.decoded): the row group's uncompressed column
    # chunks before the read, dictionary-encoded strings read as dictionaries, and the text's
    # size checked before it is built (searchable_text).
    check_decoded(stored_bytes(unit.metadata, [unit.row_group], None))
    try:
        schema = unit.metadata.schema.to_arrow_schema()
        parquet = pq.ParquetFile(
            str(unit.path), metadata=unit.metadata, read_dictionary=dictionary_columns(unit.metadata, schema)
        )
        table = parquet.read_row_group(unit.row_group, use_threads=False)
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "read data row group") from exc
    return searchable_text(table)


def _footer(path: Path) -> bytes:
    try:
        return footer_of(path)
    except (OSError, ValueError) as exc:
        raise storage_error(exc, "read data chunk footer") from exc


def build_index(
    attempt: AttemptObjects, workdir: Path, row_group_rows: int = INDEX_ROW_GROUP_ROWS
) -> tuple[Path, Path, Path, int, int]:
    """Write ``index.parquet``, ``index_trigrams.parquet`` and the layout file for ``attempt``
    into ``workdir``.

    Returns the three paths, the number of rows and of index row groups. A data chunk that cannot
    be fetched or read raises ``StorageError``.
    """
    sources_json = attempt.sources_json()
    index_path, trigram_path, layout_path = (
        workdir / INDEX_FILE,
        workdir / TRIGRAM_FILE,
        workdir / LAYOUT_FILE,
    )
    footers: list[tuple[S3Object, bytes]] = []
    postings = PostingsBuilder(workdir)
    writer = _IndexWriter(index_path, sources_json, postings, row_group_rows)

    def stage(obj: S3Object) -> Path:
        return stage_chunk(obj, attempt.bucket, workdir)

    def units() -> Iterator[_Unit]:
        # The next chunk downloads while this one is rendered (at most ~3 chunks on disk).
        staged = ordered_map(stage, attempt.data, workers=1, lookahead=1)
        for obj, path in zip(attempt.data, staged, strict=True):
            footers.append((obj, _footer(path)))
            empty = True
            for unit in _units(obj, path):
                empty = False
                yield unit
            if empty:
                path.unlink()

    def render(unit: _Unit) -> tuple[_Unit, pa.Array]:
        return unit, _texts_of(unit)

    # Row groups are rendered two at a time across chunk boundaries, so memory depends on the
    # row-group size only: the same pipeline depth for small and large attempts.
    for unit, texts in ordered_map(render, units(), workers=2, lookahead=1):
        check_deadline()
        writer.add(unit.obj.chunk_number, unit.first_row, texts)
        if unit.last:
            unit.path.unlink()  # every row group of this chunk has been rendered
    writer.close()
    postings.write(trigram_path, trigram_metadata(sources_json, writer.rows, writer.row_groups))
    write_layout(layout_path, footers, sources_json)
    return index_path, trigram_path, layout_path, writer.rows, writer.row_groups


def upload(path: Path, bucket: str, key: str) -> None:
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=SINGLE_PUT_MAX_BYTES, multipart_chunksize=128 * 1024 * 1024)
    with storage_errors("upload index"):
        s3_client().upload_file(
            str(path), bucket, key, ExtraArgs={"ContentType": "application/vnd.apache.parquet"}, Config=config
        )


def fetch_footer(bucket: str, obj: S3Object) -> bytes:
    """A data chunk's footer bytes read from S3 (pinned to the listed ETag): its last 64 KiB, and
    once more the footer's own length when it is longer."""

    def tail(length: int) -> bytes:
        response = s3_client().get_object(
            Bucket=bucket, Key=obj.key, Range=f"bytes=-{length}", IfMatch=f'"{obj.etag}"'
        )
        return bytes(response["Body"].read())

    with storage_errors("fetch data chunk footer"):
        data = tail(min(obj.size, FOOTER_READ_BYTES))
        length = int.from_bytes(data[-8:-4], "little") + 8 if data[-4:] == b"PAR1" else 0
        if 12 <= length <= obj.size and length > len(data):
            data = tail(length)
    if not 12 <= length <= min(len(data), obj.size):
        raise storage_error(ValueError("not a parquet file"), "read data chunk footer")
    return data[-length:]


def write_layout_only(attempt: AttemptObjects, workdir: Path) -> Path:
    """The layout file of ``attempt`` from its chunks' footers alone (one or two GETs each): for an
    attempt whose index files are current but were written without it."""
    footers = map_concurrently(lambda obj: (obj, fetch_footer(attempt.bucket, obj)), attempt.data)
    path = workdir / LAYOUT_FILE
    write_layout(path, footers, attempt.sources_json())
    return path


def _layout_current(store: ArtifactStore, attempt: AttemptObjects) -> bool:
    """True when the attempt's layout file was written for the data chunks listed now."""
    obj = attempt.extra.get(LAYOUT_FILE)
    if obj is None:
        return False
    try:
        return layout_is_current(store.footers.get(obj).metadata, attempt.sources())
    except StorageError:
        return False  # unreadable: written again


def index_attempt(
    bucket: str, location: AttemptLocation, row_group_rows: int = INDEX_ROW_GROUP_ROWS
) -> IndexResult | None:
    """Index the attempt at ``location``; ``None`` (a no-op) when its metadata.parquet is missing."""
    started = time.perf_counter()
    prefix = location.prefix
    store = artifact_store()  # its bucket is ``bucket`` (the handler and the CLI refuse any other)
    attempt = list_attempt_at(store, prefix)
    if attempt.metadata is None:
        logger.info("metadata.parquet missing: attempt not complete, nothing to index")
        return None
    if index_files_current(store, attempt):
        if _layout_current(store, attempt):
            # A build queued twice, or S3's event delivered again: the files already match the chunks.
            logger.info("index is current: nothing to build")
            return IndexResult(
                prefix, len(attempt.data), 0, 0, 0, 0, time.perf_counter() - started, skipped=True
            )
        # Indexed before the layout file existed (or it went stale alone): that file only.
        with tempfile.TemporaryDirectory(prefix="etl-index-") as tmp:
            layout_path = write_layout_only(attempt, Path(tmp))
            layout_bytes = layout_path.stat().st_size
            upload(layout_path, bucket, prefix + LAYOUT_FILE)
        logger.info("index is current: layout file written", extra={"bytes_written": layout_bytes})
        seconds = time.perf_counter() - started
        return IndexResult(prefix, len(attempt.data), 0, 0, 0, 0, seconds, layout_bytes=layout_bytes)
    with tempfile.TemporaryDirectory(prefix="etl-index-") as tmp:
        index_path, trigram_path, layout_path, rows, row_groups = build_index(
            attempt, Path(tmp), row_group_rows
        )
        index_bytes, trigram_bytes = index_path.stat().st_size, trigram_path.stat().st_size
        layout_bytes = layout_path.stat().st_size
        # index.parquet first: a reader that sees the new trigram file then sees its index too.
        upload(index_path, bucket, prefix + INDEX_FILE)
        upload(trigram_path, bucket, prefix + TRIGRAM_FILE)
        upload(layout_path, bucket, prefix + LAYOUT_FILE)
    result = IndexResult(
        prefix=prefix,
        chunks=len(attempt.data),
        rows=rows,
        row_groups=row_groups,
        index_bytes=index_bytes,
        trigram_bytes=trigram_bytes,
        seconds=time.perf_counter() - started,
        layout_bytes=layout_bytes,
    )
    logger.info(
        "attempt indexed",
        extra={
            "phase": location.phase,
            "attempt": location.attempt,
            "chunks": result.chunks,
            "rows": result.rows,
            "row_groups": result.row_groups,
            "bytes_written": result.bytes_written,
            "duration_ms": round(result.seconds * 1000, 1),
        },
    )
    return result
