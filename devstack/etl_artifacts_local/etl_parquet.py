"""The parquet files of docs/architecture.md as the ETL writes them: their schemas and how they are written.

One copy for the demo seed, the tests and the benchmarks. Extra columns may exist in real files
(the API passes them through); these are the columns the API names.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

UTC_TS = pa.timestamp("us", tz="UTC")

METADATA_SCHEMA = pa.schema(
    [
        ("phase", pa.string()),
        ("attempt", pa.int32()),
        ("status", pa.string()),
        ("started_at", UTC_TS),
        ("finished_at", UTC_TS),
        ("row_count", pa.int64()),
        ("data_chunks", pa.int32()),
        ("log_count", pa.int64()),
        ("error_log_count", pa.int64()),
        ("message", pa.string()),
    ]
)
LOGS_SCHEMA = pa.schema(
    [("timestamp", UTC_TS), ("level", pa.string()), ("logger", pa.string()), ("message", pa.string())]
)
ERRORS_SCHEMA = pa.schema(
    [
        ("error_type", pa.string()),
        ("error_title", pa.string()),
        ("error_status", pa.int32()),
        ("error_detail", pa.string()),
        ("traceback", pa.string()),
        ("occurred_at", UTC_TS),
        ("row_ref", pa.string()),
    ]
)
QUEUE_DATA_SCHEMA = pa.schema([("message_id", pa.string()), ("received_at", UTC_TS), ("body", pa.string())])


def parquet_bytes(table: pa.Table, row_group_size: int | None = None) -> bytes:
    """``table`` as one parquet file (row groups of ``row_group_size`` rows, pyarrow's default
    when ``None``)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()
