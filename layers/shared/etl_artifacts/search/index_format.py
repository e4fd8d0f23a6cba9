"""The index files' format, in one place: what the indexer writes and the search reads.

``index.parquet`` (docs/architecture.md): ``chunk`` int32, ``row`` int64, ``_searchable`` string, one row
per data row in chunk order; schema metadata ``etl_artifacts.sources`` holds the JSON list
``[{"key": full S3 key, "etag": ETag without quotes, "size": bytes}]`` of the data chunks it was
built from, in chunk order. It is current only while that list equals the attempt's data chunks
as listed now (``attempts.sources_of``).

``index_trigrams.parquet`` (version 1), a trigram skip index over the row groups of
``index.parquet``, written by the indexer beside it in the same run:

- one row per distinct trigram, sorted by trigram;
- ``trigram`` uint32: three consecutive UTF-8 bytes of the lower-cased ``_searchable`` text, as the
  big-endian number ``b0 << 16 | b1 << 8 | b2`` (byte trigrams: no decoding needed, and a keyword's
  byte trigrams all occur in any text that contains it);
- ``blocks`` list<int32>: the ``index.parquet`` row groups whose text contains the trigram,
  ascending;
- schema metadata: ``etl_artifacts.trigram_format`` = ``"1"``, ``etl_artifacts.sources`` (the same
  JSON list as the index), ``etl_artifacts.index_rows`` and ``etl_artifacts.index_row_groups``
  (the layout of the ``index.parquet`` it describes).

Because rows are sorted by trigram, the min/max statistics of each row group of this file say
which row groups can hold a given trigram: a lookup reads the footer (cached) and the few row
groups whose range covers the keyword's trigrams.

Postings are a superset: trigrams that span two rows of a row group or a value separator are
recorded too (harmless: candidates are always confirmed against ``_searchable``); trigrams that
contain the separator byte ``0x1f`` are left out, so keywords containing it never use this file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from etl_artifacts.deadline import check_deadline
from etl_artifacts.observability import logger
from etl_artifacts.search.text import SEARCHABLE_COLUMN, SEPARATOR

# --------------------------------------------------------------------------- index.parquet

INDEX_FILE = "index.parquet"
SOURCES_METADATA_KEY = b"etl_artifacts.sources"
INDEX_SCHEMA = pa.schema(
    [
        pa.field("chunk", pa.int32(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field(SEARCHABLE_COLUMN, pa.string(), nullable=False),
    ]
)
#: What a reader accepts of an ``index.parquet`` (any integer width for chunk/row).
_INDEX_TYPES: dict[str, Callable[[pa.DataType], bool]] = {
    "chunk": pa.types.is_integer,
    "row": pa.types.is_integer,
    SEARCHABLE_COLUMN: lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
}


def decode_sources(raw: bytes | str | None) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, list) else None


def index_schema(sources_json: str) -> pa.Schema:
    """The schema ``index.parquet`` is written with, sources included."""
    return INDEX_SCHEMA.with_metadata({SOURCES_METADATA_KEY: sources_json.encode()})


def index_is_current(metadata: pq.FileMetaData, sources: list[dict[str, Any]]) -> bool:
    """True when this ``index.parquet`` footer has the index's columns and was built from exactly
    ``sources``. A wrong schema is treated like a stale index (with a warning)."""
    schema = metadata.schema.to_arrow_schema()
    for name, accepts in _INDEX_TYPES.items():
        index = schema.get_field_index(name)
        if index < 0 or not accepts(schema.field(index).type):
            logger.warning("index.parquet has an unexpected schema; scanning instead")
            return False
    return decode_sources((schema.metadata or {}).get(SOURCES_METADATA_KEY)) == sources


# --------------------------------------------------------------------------- index_trigrams.parquet

TRIGRAM_FILE = "index_trigrams.parquet"
FORMAT_VERSION = "1"
FORMAT_KEY = b"etl_artifacts.trigram_format"
INDEX_ROWS_KEY = b"etl_artifacts.index_rows"
INDEX_ROW_GROUPS_KEY = b"etl_artifacts.index_row_groups"

#: Trigrams per row group of the trigram file: small row groups keep a lookup's read small.
TRIGRAM_ROW_GROUP_ROWS = 8_192
#: Postings held in memory at once while sorting them (bounds the indexer's memory).
MAX_PAIRS_IN_MEMORY = 500_000
#: Text bytes turned into trigram codes at once (bounds the uint32 intermediates).
TRIGRAM_WINDOW_BYTES = 256 * 1024

_SEPARATOR_BYTE = ord(SEPARATOR)
_PAIR_SCHEMA = pa.schema([("trigram", pa.uint32()), ("block", pa.int32())])
TRIGRAM_SCHEMA = pa.schema([("trigram", pa.uint32()), ("blocks", pa.list_(pa.int32()))])


# --------------------------------------------------------------------------- trigrams


def _text_bytes(texts: pa.Array) -> pa.Array:
    """The UTF-8 bytes of all values of a string array, as one uint8 array (zero-copy)."""
    if texts.type != pa.string():
        texts = texts.cast(pa.string())
    if len(texts) == 0:
        return pa.array([], pa.uint8())
    offsets = pa.Array.from_buffers(
        pa.int32(), len(texts) + 1, [None, texts.buffers()[1]], offset=texts.offset
    )
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    return pa.Array.from_buffers(pa.uint8(), end - start, [None, texts.buffers()[2]], offset=start)


def _window_trigrams(data: pa.Array) -> pa.Array:
    size = len(data)
    first, second, third = (data.slice(i, size - 2).cast(pa.uint32()) for i in range(3))
    shift16, shift8 = pa.scalar(16, pa.uint32()), pa.scalar(8, pa.uint32())
    codes = pc.bit_wise_or(
        pc.bit_wise_or(pc.shift_left(first, shift16), pc.shift_left(second, shift8)), third
    )
    return pc.unique(codes)


def text_trigrams(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Distinct byte trigrams (uint32 codes) of the texts, vectorised; without separator bytes.

    The bytes are taken in windows of ``TRIGRAM_WINDOW_BYTES`` (overlapping by two bytes, so no
    trigram is lost): the uint32 intermediates then stay a few MB whatever the block size.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    data = _text_bytes(texts)
    size = len(data)
    if size < 3:
        return pa.array([], pa.uint32())
    parts = [
        _window_trigrams(data.slice(start, TRIGRAM_WINDOW_BYTES + 2))
        for start in range(0, size - 2, TRIGRAM_WINDOW_BYTES)
    ]
    codes = parts[0] if len(parts) == 1 else pc.unique(pa.chunked_array(parts))
    # Drop trigrams containing the unit separator: no (valid) keyword contains it.
    separator = pc.or_(
        pc.or_(
            pc.equal(pc.shift_right(codes, 16), _SEPARATOR_BYTE),
            pc.equal(pc.bit_wise_and(pc.shift_right(codes, 8), 0xFF), _SEPARATOR_BYTE),
        ),
        pc.equal(pc.bit_wise_and(codes, 0xFF), _SEPARATOR_BYTE),
    )
    return pc.filter(codes, pc.invert(separator)).cast(pa.uint32())


def keyword_trigrams(needle: str) -> list[int]:
    """Distinct byte trigrams of a (normalised) keyword, sorted."""
    raw = needle.encode("utf-8")
    return sorted({raw[i] << 16 | raw[i + 1] << 8 | raw[i + 2] for i in range(len(raw) - 2)})


def usable_keyword(needle: str) -> bool:
    return len(needle) >= 3 and SEPARATOR not in needle


# --------------------------------------------------------------------------- writing


class PostingsBuilder:
    """Collects (trigram, block) postings with bounded memory and writes the trigram file.

    Each block's distinct trigrams are appended to a temporary Arrow IPC file as they come; the
    file is then read back in passes over ranges of the trigram's first byte, each pass holding at
    most about ``MAX_PAIRS_IN_MEMORY`` postings, sorted and grouped into one row per trigram.
    """

    def __init__(self, directory: Path) -> None:
        self._path = directory / "trigram-postings.arrow"
        self._sink = pa.OSFile(str(self._path), "wb")
        self._writer = ipc.new_file(self._sink, _PAIR_SCHEMA)
        self._first_byte_counts = [0] * 256
        self.blocks = 0
        self.pairs = 0

    def add_block(self, block: int, texts: pa.Array | pa.ChunkedArray) -> None:
        codes = text_trigrams(texts)
        if len(codes):
            blocks = pa.repeat(pa.scalar(block, pa.int32()), len(codes))
            self._writer.write_batch(pa.record_batch([codes, blocks], schema=_PAIR_SCHEMA))
            counts = pc.value_counts(pc.shift_right(codes, 16))
            for value, count in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            ):
                self._first_byte_counts[value] += count
            self.pairs += len(codes)
        self.blocks = max(self.blocks, block + 1)

    def _passes(self) -> Iterator[tuple[int, int]]:
        """Ranges ``[low, high)`` of first bytes, each holding a bounded number of postings."""
        low, held = 0, 0
        for first_byte, count in enumerate(self._first_byte_counts):
            if held and held + count > MAX_PAIRS_IN_MEMORY:
                yield low, first_byte
                low, held = first_byte, 0
            held += count
        yield low, 256

    def write(self, path: Path, metadata: dict[bytes, bytes]) -> None:
        self._writer.close()
        self._sink.close()
        schema = TRIGRAM_SCHEMA.with_metadata(metadata)
        with pq.ParquetWriter(str(path), schema, compression="zstd", use_dictionary=False) as writer:
            for low, high in self._passes():
                check_deadline()
                table = self._read_range(low << 16, high << 16)
                if table.num_rows:
                    writer.write_table(_group(table, schema), row_group_size=TRIGRAM_ROW_GROUP_ROWS)
        os.unlink(self._path)

    def _read_range(self, low: int, high: int) -> pa.Table:
        pieces = []
        with pa.OSFile(str(self._path), "rb") as source:
            reader = ipc.open_file(source)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                codes = batch.column(0)
                keep = pc.and_(pc.greater_equal(codes, low), pc.less(codes, high))
                pieces.append(batch.filter(keep))
        return pa.Table.from_batches(pieces, schema=_PAIR_SCHEMA)


def _group(pairs: pa.Table, schema: pa.Schema) -> pa.Table:
    """Postings sorted by (trigram, block), grouped into one row per trigram."""
    pairs = pairs.take(pc.sort_indices(pairs, sort_keys=[("trigram", "ascending"), ("block", "ascending")]))
    codes = pairs.column("trigram").combine_chunks()
    blocks = pairs.column("block").combine_chunks()
    runs = pc.run_end_encode(codes, run_end_type=pa.int32())
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), runs.run_ends])
    postings = pa.ListArray.from_arrays(offsets, blocks)
    return pa.Table.from_arrays([runs.values, postings], schema=schema)


def trigram_metadata(sources_json: str, index_rows: int, index_row_groups: int) -> dict[bytes, bytes]:
    return {
        FORMAT_KEY: FORMAT_VERSION.encode(),
        SOURCES_METADATA_KEY: sources_json.encode(),
        INDEX_ROWS_KEY: str(index_rows).encode(),
        INDEX_ROW_GROUPS_KEY: str(index_row_groups).encode(),
    }


# --------------------------------------------------------------------------- reading


def _layout_matches(meta: dict[bytes, bytes], index_metadata: pq.FileMetaData) -> bool:
    try:
        rows = int(meta.get(INDEX_ROWS_KEY, b"-1"))
        groups = int(meta.get(INDEX_ROW_GROUPS_KEY, b"-1"))
    except ValueError:
        return False
    return rows == index_metadata.num_rows and groups == index_metadata.num_row_groups


def trigram_file_is_current(
    metadata: pq.FileMetaData, index_metadata: pq.FileMetaData, sources: list[dict[str, Any]]
) -> bool:
    """True when this trigram file footer is version 1, built from ``sources``, and describes the
    ``index.parquet`` whose footer is ``index_metadata``."""
    schema = metadata.schema.to_arrow_schema()
    meta: dict[bytes, bytes] = schema.metadata or {}
    if meta.get(FORMAT_KEY) != FORMAT_VERSION.encode():
        return False
    if decode_sources(meta.get(SOURCES_METADATA_KEY)) != sources:
        return False
    if not _layout_matches(meta, index_metadata) or not schema.equals(TRIGRAM_SCHEMA, check_metadata=False):
        logger.warning("index_trigrams.parquet does not describe index.parquet; not used")
        return False
    return True


def row_groups_holding(metadata: pq.FileMetaData, codes: list[int]) -> list[int]:
    """Row groups of the trigram file whose trigram range covers one of ``codes``."""
    groups = []
    for index in range(metadata.num_row_groups):
        stats = metadata.row_group(index).column(0).statistics
        if stats is None or not stats.has_min_max:
            groups.append(index)
            continue
        low, high = int(stats.min), int(stats.max)
        if any(low <= code <= high for code in codes):
            groups.append(index)
    return groups


def candidate_blocks(postings: pa.Table, codes: list[int]) -> list[int]:
    """The index row groups listed under EVERY trigram of ``codes`` in these trigram-file rows."""
    found = postings.filter(pc.is_in(postings.column("trigram"), value_set=pa.array(codes, pa.uint32())))
    if found.num_rows < len(codes):
        return []  # a trigram of the keyword occurs nowhere: no row can match
    lists: list[list[int]] = sorted(found.column("blocks").to_pylist(), key=len)
    candidates = set(lists[0])
    for blocks in lists[1:]:
        candidates.intersection_update(blocks)
        if not candidates:
            break
    return sorted(candidates)
