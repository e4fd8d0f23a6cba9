"""Memory bounded by decoded size, not compressed size (docs/limits.md "Decoded size").

A parquet file of a kilobyte can decode to gigabytes: a compression bomb (a long run of one byte,
zstd or gzip) or a dictionary bomb (one huge value in the dictionary page, repeated by every
index). ``DECODE_MAX_BYTES`` bounds what one read may hold, checked twice, each time BEFORE the
memory is spent:

1. before a read, from the footer: the uncompressed bytes of the column chunks it fetches
   (``stored_bytes``). That is what the read itself holds, because string columns that are
   dictionary-encoded are read as dictionaries (``dictionary_columns``): a dictionary bomb then
   costs its dictionary page, not its expansion;
2. before values are decoded, rendered or turned into text: their decoded size, computed from the
   dictionaries' value lengths and the indices (``decoded_bytes``), times the copies the step
   makes of them (``PAGE_COPIES``, ``TEXT_COPIES``).

Past the bound the step raises ``TooExpensive``: 422 ``too_expensive`` on the API, a permanent
(not retried) failure in the indexer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl_artifacts.config import get_settings
from etl_artifacts.errors import TooExpensive

#: A page holds its rows as Arrow values, as Python values, as JSON text and as the encoded body.
PAGE_COPIES = 4
#: The searchable text of rows: the Arrow values, the joined text and its lower-cased copy.
TEXT_COPIES = 3


def check_decoded(nbytes: int, copies: int = 1) -> None:
    """``TooExpensive`` when ``nbytes`` held ``copies`` times would pass ``DECODE_MAX_BYTES``."""
    if nbytes * copies > get_settings().decode_max_bytes:
        raise TooExpensive()


def _top_level(path_in_schema: str) -> str:
    return path_in_schema.split(".", 1)[0]


def stored_bytes(metadata: pq.FileMetaData, row_groups: Iterable[int], columns: Sequence[str] | None) -> int:
    """Uncompressed bytes of the column chunks of ``row_groups`` (only ``columns`` when given)."""
    wanted = None if columns is None else set(columns)
    total = 0
    for group in row_groups:
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            if wanted is None or _top_level(column.path_in_schema) in wanted:
                total += column.total_uncompressed_size
    return total


def _is_text(arrow_type: pa.DataType) -> bool:
    types = pa.types
    return bool(
        types.is_string(arrow_type)
        or types.is_large_string(arrow_type)
        or types.is_binary(arrow_type)
        or types.is_large_binary(arrow_type)
    )


def dictionary_columns(metadata: pq.FileMetaData, schema: pa.Schema) -> list[str]:
    """Top-level string/binary columns that some row group stores dictionary-encoded: read as
    Arrow dictionaries, they hold the dictionary page and the indices, whatever the expansion."""
    found: set[str] = set()
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            column = row_group.column(index)
            if column.has_dictionary_page and "." not in column.path_in_schema:
                found.add(column.path_in_schema)
    return [field.name for field in schema if field.name in found and _is_text(field.type)]


def _dictionary_bytes(array: pa.DictionaryArray) -> int:
    dictionary, indices = array.dictionary, array.indices
    if len(dictionary) == 0 or len(indices) == 0:
        return int(indices.nbytes)
    if _is_text(dictionary.type):
        sizes = pc.binary_length(dictionary)
    else:
        sizes = pa.repeat(pa.scalar(dictionary.nbytes // len(dictionary) + 1, pa.int64()), len(dictionary))
    taken = pc.sum(pc.take(sizes, indices)).as_py() or 0
    # Each decoded value also takes an offset (and validity) slot.
    return int(taken) + 8 * len(indices)


def decoded_bytes(values: pa.Array | pa.ChunkedArray | pa.Table | pa.RecordBatch) -> int:
    """Bytes ``values`` take once decoded (dictionaries expanded), computed without decoding."""
    if isinstance(values, pa.Table | pa.RecordBatch):
        return sum(decoded_bytes(column) for column in values.columns)
    if isinstance(values, pa.ChunkedArray):
        return sum(decoded_bytes(chunk) for chunk in values.chunks)
    if isinstance(values, pa.DictionaryArray):
        return _dictionary_bytes(values)
    return int(values.nbytes)
