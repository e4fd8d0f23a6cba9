"""Helpers for search and indexer tests: write phase attempts to the S3 server, and the brute-force
reference answer (Python, row by row) that every search mode must equal."""

from __future__ import annotations

import uuid
from datetime import date

import pyarrow as pa
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.parquet.render import render_array, render_value_text
from etl_artifacts.s3.artifact_store import artifact_store
from etl_artifacts.s3.attempts import AttemptObjects, list_attempt
from etl_artifacts.s3.layout import RunRef, chunk_file, single_file
from etl_artifacts.search.text import SEPARATOR, normalize_keyword
from etl_artifacts_local.etl_parquet import METADATA_SCHEMA, parquet_bytes
from hypothesis import strategies as st


def new_run(company: str = "acme") -> RunRef:
    return RunRef(
        company, uuid.uuid4(), date(2026, 11, 20), f"manual__2026-11-20T10:00:00+00:00.{uuid.uuid4().hex[:8]}"
    )


def put_object(key: str, body: bytes) -> None:
    s3_client().put_object(Bucket=get_settings().artifacts_bucket, Key=key, Body=body)


def attempt_prefix(run: RunRef, phase: str = "extract", attempt: int = 1) -> str:
    return run.prefix(get_settings().artifacts_prefix) + f"{phase}/attempt={attempt}/"


def metadata_table(row_count: int, chunks: int) -> pa.Table:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    return pa.Table.from_pydict(
        {
            "phase": ["extract"],
            "attempt": [1],
            "status": ["success"],
            "started_at": [now],
            "finished_at": [now],
            "row_count": [row_count],
            "data_chunks": [chunks],
            "log_count": [0],
            "error_log_count": [0],
            "message": [None],
        },
        schema=METADATA_SCHEMA,
    )


def write_attempt(
    run: RunRef,
    tables: list[pa.Table],
    *,
    row_group_size: int | None = None,
    phase: str = "extract",
    attempt: int = 1,
    metadata: bool = True,
) -> AttemptObjects:
    """Write ``data_NNN.parquet`` chunks (and metadata.parquet, written last) for one attempt."""
    prefix = run.prefix(get_settings().artifacts_prefix)
    for number, table in enumerate(tables):
        put_object(prefix + chunk_file(phase, attempt, "data", number), parquet_bytes(table, row_group_size))
    if metadata:
        rows = sum(t.num_rows for t in tables)
        put_object(
            prefix + single_file(phase, attempt, "metadata"), parquet_bytes(metadata_table(rows, len(tables)))
        )
    return list_attempt(artifact_store(), run, phase, attempt)


def metadata_key(run: RunRef, phase: str = "extract", attempt: int = 1) -> str:
    return run.prefix(get_settings().artifacts_prefix) + single_file(phase, attempt, "metadata")


def reference_texts(tables: list[pa.Table]) -> list[tuple[int, int, str]]:
    """(chunk, row, text) built value by value from the page renderer: the definition itself."""
    out = []
    for chunk, table in enumerate(tables):
        for row, text in enumerate(reference_table_texts(table)):
            out.append((chunk, row, text))
    return out


def reference_table_texts(table: pa.Table) -> list[str]:
    columns = [render_array(column) for column in table.columns]
    texts = []
    for row in range(table.num_rows):
        parts = (render_value_text(values[row]) for values in columns)
        texts.append(normalize_keyword(SEPARATOR.join(t for t in parts if t is not None)))
    return texts


def reference_search(tables: list[pa.Table], keyword: str) -> list[tuple[int, int]]:
    needle = normalize_keyword(keyword)
    return [(chunk, row) for chunk, row, text in reference_texts(tables) if needle in text]


# --------------------------------------------------------------------------- random tables (hypothesis)

SECONDS_RANGE = (-2_000_000_000, 7_000_000_000)  # 1906 .. 2191


def _ticks(unit: str) -> st.SearchStrategy[int]:
    per = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    return st.integers(SECONDS_RANGE[0] * per, SECONDS_RANGE[1] * per)


def column_of_kind(draw: st.DrawFn, kind: str, n: int) -> pa.Array:
    def values(strategy: st.SearchStrategy) -> list:
        return draw(st.lists(st.none() | strategy, min_size=n, max_size=n))

    if kind == "int64":
        return pa.array(values(st.integers(-(2**63), 2**63 - 1)), pa.int64())
    if kind == "uint8":
        return pa.array(values(st.integers(0, 255)), pa.uint8())
    if kind == "float64":
        return pa.array(values(st.floats()), pa.float64())
    if kind == "float32":
        return pa.array(values(st.floats(width=32)), pa.float32())
    if kind == "string":
        return pa.array(values(st.text(max_size=12)), pa.string())
    if kind == "large_string":
        return pa.array(values(st.text(alphabet="aBc-É ", max_size=6)), pa.large_string())
    if kind == "bool":
        return pa.array(values(st.booleans()), pa.bool_())
    if kind.startswith("timestamp"):
        _, unit, tz = kind.split("|")
        return pa.array(values(_ticks(unit)), pa.int64()).cast(pa.timestamp(unit, tz or None))
    if kind == "date32":
        return pa.array(values(st.integers(-20_000, 80_000)), pa.int32()).cast(pa.date32())
    if kind.startswith("time"):
        _, unit = kind.split(":")
        per = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
        raw = values(st.integers(0, 86_400 * per - 1))
        if unit in ("s", "ms"):
            return pa.array(raw, pa.int32()).cast(pa.time32(unit))
        return pa.array(raw, pa.int64()).cast(pa.time64(unit))
    if kind.startswith("duration"):
        _, unit = kind.split(":")
        return pa.array(values(st.integers(-(10**15), 10**15)), pa.int64()).cast(pa.duration(unit))
    if kind == "decimal":
        return pa.array(
            values(st.decimals(min_value=-(10**6), max_value=10**6, places=3)), pa.decimal128(10, 3)
        )
    if kind == "binary":
        return pa.array(values(st.binary(max_size=8)), pa.binary())
    if kind == "list":
        return pa.array(values(st.lists(st.none() | st.floats(), max_size=3)), pa.list_(pa.float64()))
    if kind == "struct":
        struct = st.fixed_dictionaries(
            {"a": st.none() | st.text(max_size=4), "b": st.none() | st.integers(0, 9)}
        )
        return pa.array(values(struct), pa.struct([("a", pa.string()), ("b", pa.int32())]))
    if kind == "map":
        entries = st.lists(
            st.tuples(st.text(alphabet="kK", min_size=1, max_size=2), st.none() | st.integers(0, 9)),
            max_size=2,
            unique_by=lambda e: e[0],
        )
        return pa.array(values(entries), pa.map_(pa.string(), pa.int64()))
    if kind == "dictionary":
        return pa.array(values(st.sampled_from(["Red", "GREEN", "blüe"])), pa.string()).dictionary_encode()
    if kind == "null":
        return pa.nulls(n)
    raise AssertionError(kind)


KINDS = [
    "int64",
    "uint8",
    "float64",
    "float32",
    "string",
    "large_string",
    "bool",
    "timestamp|us|",
    "timestamp|ns|",
    "timestamp|ms|UTC",
    "timestamp|us|Europe/Paris",
    "timestamp|s|+05:30",
    "date32",
    "time:s",
    "time:ms",
    "time:us",
    "time:ns",
    "duration:s",
    "duration:ms",
    "duration:ns",
    "decimal",
    "binary",
    "list",
    "struct",
    "map",
    "dictionary",
    "null",
]


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
    n = draw(st.integers(0, 8))
    return pa.table({f"c{i}": column_of_kind(draw, kind, n) for i, kind in enumerate(kinds)})
