"""Helpers for search and indexer tests: write phase attempts to the S3 server, and the brute-force
reference answer (Python, row by row) that every search mode must equal."""

from __future__ import annotations

import io
import uuid
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
from etl_artifacts.attempts import AttemptObjects, list_attempt
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.layout import RunRef, chunk_file, single_file
from etl_artifacts.parquet.render import render_array, render_value_text
from etl_artifacts.search.text import SEPARATOR, normalize_keyword


def new_run(company: str = "acme") -> RunRef:
    return RunRef(
        company, uuid.uuid4(), date(2026, 11, 20), f"manual__2026-11-20T10:00:00+00:00.{uuid.uuid4().hex[:8]}"
    )


def parquet_bytes(table: pa.Table, row_group_size: int | None = None) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def put_object(key: str, body: bytes) -> None:
    s3_client().put_object(Bucket=get_settings().artifacts_bucket, Key=key, Body=body)


def attempt_prefix(run: RunRef, phase: str = "extract", attempt: int = 1) -> str:
    return run.prefix(get_settings().artifacts_prefix) + f"{phase}/attempt={attempt}/"


def metadata_table(row_count: int, chunks: int) -> pa.Table:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    return pa.table(
        {
            "phase": ["extract"],
            "attempt": pa.array([1], pa.int32()),
            "status": ["success"],
            "started_at": pa.array([now], pa.timestamp("us", "UTC")),
            "finished_at": pa.array([now], pa.timestamp("us", "UTC")),
            "row_count": pa.array([row_count], pa.int64()),
            "data_chunks": pa.array([chunks], pa.int32()),
            "log_count": pa.array([0], pa.int64()),
            "error_log_count": pa.array([0], pa.int64()),
            "message": pa.array([None], pa.string()),
        }
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
    return list_attempt(run, phase, attempt)


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
