"""Generators of hostile parquet files (docs/limits.md), made when needed by the tests and the
benchmarks (no committed binaries):

- ``nested_parquet``: 2.5 M rows of list<struct> values in 50 row groups, ~50 KB with zstd. Its
  searchable text is rendered value by value: tens of seconds of work behind a tiny file.
- ``bomb_parquet``: 64 copies of one 4 MiB string, dictionary-encoded, ~1 KB that decodes to
  256 MiB.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

NESTED_ROWS = 2_500_000
NESTED_ROW_GROUPS = 50
BOMB_COPIES = 64
BOMB_VALUE_BYTES = 4 * 1024 * 1024


def nested_table(rows: int = NESTED_ROWS) -> pa.Table:
    """One column, ``items``: a list<struct<k int32, tag string>> of one element, the same in
    every row (so the file compresses to almost nothing)."""
    keys = pa.repeat(pa.scalar(7, pa.int32()), rows)
    tags = pa.repeat(pa.scalar("hay", pa.string()), rows)
    values = pa.StructArray.from_arrays([keys, tags], names=["k", "tag"])
    items = pa.ListArray.from_arrays(pa.arange(0, rows + 1).cast(pa.int32()), values)
    return pa.table({"items": items})


def nested_parquet(rows: int = NESTED_ROWS, row_groups: int = NESTED_ROW_GROUPS) -> bytes:
    sink = io.BytesIO()
    pq.write_table(nested_table(rows), sink, compression="zstd", row_group_size=rows // row_groups)
    return sink.getvalue()


def bomb_parquet(column: str = "blob") -> bytes:
    """``id`` and ``column``: 64 rows holding the same 4 MiB string, dictionary-encoded (one
    dictionary page of 4 MiB, 64 indices), zstd: ~1 KB.

    Built as an Arrow dictionary (4 MiB in memory, not 256 MiB) and written without the Arrow
    schema, so a reader sees a plain ``string`` column and must choose itself how to read it.
    """
    blob = pa.DictionaryArray.from_arrays(
        pa.array([0] * BOMB_COPIES, pa.int32()), pa.array(["x" * BOMB_VALUE_BYTES], pa.string())
    )
    table = pa.table({"id": pa.array(range(BOMB_COPIES), pa.int64()), column: blob})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", store_schema=False)
    return sink.getvalue()
