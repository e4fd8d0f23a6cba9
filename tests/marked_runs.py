"""Tenant-marked runs: complete runs whose every string value carries the tenant's name, so a
response that shows another tenant's data is caught by a plain substring check."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from route_helpers import encode_run_id, sample_path

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass
class MarkedRun:
    """A run whose every string value carries ``marker`` (the tenant's name), so a response that
    shows another tenant's data is caught by a plain substring check."""

    ref: Any  # RunRef
    marker: str
    keys: dict[str, bytes] = field(default_factory=dict)  # relative key -> bytes written

    @property
    def encoded_run_id(self) -> str:
        return encode_run_id(self.ref.run_id)

    def path(self, template_path: str, **kwargs: Any) -> str:
        return sample_path(
            template_path,
            dag_id=str(self.ref.dag_id),
            date=self.ref.run_date.isoformat(),
            run_id=self.ref.run_id,
            **kwargs,
        )


def marked_tables(marker: str, phase: str, *, rows_per_chunk: int = 30, chunks: int = 2) -> dict[str, Any]:
    """The parquet tables of one complete phase attempt (docs/architecture.md schemas), metadata last."""
    import datetime as dt

    import pyarrow as pa
    from etl_artifacts_local.etl_parquet import ERRORS_SCHEMA, LOGS_SCHEMA, METADATA_SCHEMA

    start = dt.datetime(2026, 3, 14, 10, 0, tzinfo=dt.UTC)
    tables: dict[str, Any] = {}
    for chunk in range(chunks):
        ids = list(range(chunk * rows_per_chunk, (chunk + 1) * rows_per_chunk))
        tables[f"data_{chunk:03d}"] = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "owner": pa.array([marker] * len(ids)),
                "note": pa.array([f"{marker} {phase} row {i} 100% _under\\score" for i in ids]),
                "amount": pa.array([i * 1.5 for i in ids], pa.float64()),
            }
        )
    log_count = 12
    tables["logs_000"] = pa.Table.from_pydict(
        {
            "timestamp": [start + dt.timedelta(seconds=i) for i in range(log_count)],
            "level": [LEVELS[i % len(LEVELS)] for i in range(log_count)],
            "logger": [f"etl.{phase}"] * log_count,
            "message": [f"{marker} {phase} log line {i}" for i in range(log_count)],
        },
        schema=LOGS_SCHEMA,
    )
    tables["errors_000"] = pa.Table.from_pydict(
        {
            "error_type": ["about:blank"] * 2,
            "error_title": ["Bad row"] * 2,
            "error_status": [422, 422],
            "error_detail": [f"{marker} rejected row {i}" for i in range(2)],
            "traceback": [None, None],
            "occurred_at": [start, start],
            "row_ref": ["0", "1"],
        },
        schema=ERRORS_SCHEMA,
    )
    tables["metadata"] = pa.Table.from_pydict(
        {
            "phase": [phase],
            "attempt": [1],
            "status": ["success"],
            "started_at": [start],
            "finished_at": [start + dt.timedelta(minutes=5)],
            "row_count": [rows_per_chunk * chunks],
            "data_chunks": [chunks],
            "log_count": [log_count],
            "error_log_count": [2],
            "message": [f"{marker} {phase} done"],
        },
        schema=METADATA_SCHEMA,
    )
    return tables


def write_marked_run(
    ref: Any, marker: str | None = None, *, with_log: bool = True, rows_per_chunk: int = 30, chunks: int = 2
) -> MarkedRun:
    """Write a complete run (event files, three phases at attempt 1, ``etl.logs`` row) for ``ref``."""
    import datetime as dt

    import pyarrow as pa
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings
    from etl_artifacts.postgres.db import get_database
    from etl_artifacts.s3.layout import PHASES, attempt_dir
    from etl_artifacts_local.etl_parquet import parquet_bytes
    from etl_artifacts_local.seed import upsert_log

    marker = marker or ref.id_company
    settings = get_settings()
    bucket = settings.artifacts_bucket
    prefix = ref.prefix(settings.artifacts_prefix)
    client = s3_client()
    run = MarkedRun(ref, marker)
    ts = pa.timestamp("us", tz="UTC")
    start = dt.datetime(2026, 3, 14, 9, 0, tzinfo=dt.UTC)

    def put(relative_key: str, body: bytes) -> None:
        client.put_object(Bucket=bucket, Key=prefix + relative_key, Body=body)
        run.keys[relative_key] = body

    put(
        "event/queue_data.parquet",
        parquet_bytes(
            pa.table(
                {
                    "message_id": pa.array([f"msg-{marker}"]),
                    "received_at": pa.array([start], ts),
                    "body": pa.array([json.dumps({"tenant": marker, "object": "orders.csv"})]),
                }
            )
        ),
    )
    put(
        "event/event.parquet",
        parquet_bytes(
            pa.table(
                {
                    "field_set": pa.array(["orders"]),
                    "tenant_note": pa.array([marker]),
                    "size": pa.array([123], pa.int64()),
                }
            )
        ),
    )
    log: dict[str, Any] = {
        "event": {
            "status": "success",
            "message": f"{marker} event",
            "total": 1,
            "attempt": None,
            "s3_data_path": f"s3://{bucket}/{prefix}event/",
        },
    }
    for phase in PHASES:
        tables = marked_tables(marker, phase, rows_per_chunk=rows_per_chunk, chunks=chunks)
        metadata = tables.pop("metadata")
        for name, table in tables.items():
            put(f"{attempt_dir(phase, 1)}{name}.parquet", parquet_bytes(table, row_group_size=10))
        put(f"{attempt_dir(phase, 1)}metadata.parquet", parquet_bytes(metadata))
        log[phase] = {
            "status": "success",
            "message": f"{marker} {phase} done",
            "total": rows_per_chunk * chunks,
            "attempt": 1,
            "s3_data_path": f"s3://{bucket}/{prefix}{attempt_dir(phase, 1)}",
            "data": [{"owner": marker, "id": i} for i in range(3)],
        }
    if with_log:
        upsert_log(get_database(), ref, log, start, start + dt.timedelta(minutes=20))
    return run


def delete_marked_run(ref: Any) -> None:
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings
    from etl_artifacts.postgres.db import get_database

    settings = get_settings()
    client = s3_client()
    prefix = ref.prefix(settings.artifacts_prefix)
    listed = client.list_objects_v2(Bucket=settings.artifacts_bucket, Prefix=prefix).get("Contents", [])
    if listed:
        client.delete_objects(
            Bucket=settings.artifacts_bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]}
        )
    get_database().run(
        "DELETE FROM etl.logs WHERE id_company = :c AND dag_id = CAST(:d AS uuid) AND run_date = :day "
        "AND run_id = :r",
        c=ref.id_company,
        d=str(ref.dag_id),
        day=ref.run_date,
        r=ref.run_id,
    )


def without_request_id(body: Any, replacements: dict[str, str] | None = None) -> Any:
    """A JSON body with ``request_id`` dropped and the given strings replaced (for comparing shapes)."""
    text = json.dumps(body, sort_keys=True)
    for old, new in (replacements or {}).items():
        text = text.replace(old, new)
    value = json.loads(text)
    if isinstance(value, dict):
        value.pop("request_id", None)
    return value
