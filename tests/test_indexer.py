"""The indexer against moto's S3 server: index content, idempotence, no-ops, refusals, partial
batch failures, the events/ files through ``etl-artifacts invoke``, and the CLI."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.indexing.builder import index_attempt
from etl_artifacts.indexing.events import ObjectRef, objects_in
from etl_artifacts.indexing.handler import lambda_handler
from etl_artifacts.s3.artifact_store import artifact_store
from etl_artifacts.s3.attempts import list_attempt
from etl_artifacts.s3.layout import parse_metadata_key
from etl_artifacts.search import index_format
from etl_artifacts.search.index_format import SOURCES_METADATA_KEY, TRIGRAM_FILE, decode_sources
from etl_artifacts_local.cli import main as cli_main
from etl_artifacts_local.lambda_runtime import LocalLambdaContext
from search_helpers import (
    attempt_prefix,
    metadata_key,
    new_run,
    put_object,
    reference_texts,
    write_attempt,
)

pytestmark = pytest.mark.usefixtures("base_env")
REPO_ROOT = Path(__file__).resolve().parents[1]


def mixed_tables() -> list[pa.Table]:
    """Two chunks of mixed types (nested, temporal, decimal, binary, NaN, nulls)."""

    def chunk(start: int, n: int) -> pa.Table:
        return pa.table(
            {
                "id": pa.array(range(start, start + n), pa.int64()),
                "name": [f"Customer-{i}" if i % 7 else None for i in range(start, start + n)],
                "amount": pa.array([i / 4 if i % 11 else float("nan") for i in range(start, start + n)]),
                "at": pa.array(
                    [
                        dt.datetime(2026, 11, 20, 10, 0, i % 60, tzinfo=dt.UTC)
                        for i in range(start, start + n)
                    ],
                    pa.timestamp("us", "UTC"),
                ),
                "price": pa.array(
                    [decimal.Decimal(i) / 100 for i in range(start, start + n)], pa.decimal128(9, 2)
                ),
                "blob": pa.array([bytes([i % 256]) for i in range(start, start + n)]),
                "tags": pa.array([[f"t{i % 3}", "Ünïcode"] for i in range(start, start + n)]),
                "meta": pa.array([{"k": i, "ok": i % 2 == 0} for i in range(start, start + n)]),
            }
        )

    return [chunk(0, 23), chunk(23, 17)]


def get_bytes(key: str) -> bytes:
    body: bytes = s3_client().get_object(Bucket=get_settings().artifacts_bucket, Key=key)["Body"].read()
    return body


def read_parquet(key: str) -> pq.ParquetFile:
    return pq.ParquetFile(io.BytesIO(get_bytes(key)))


def location_of(run: Any) -> Any:
    location = parse_metadata_key(metadata_key(run), get_settings().artifacts_prefix)
    assert location is not None
    return location


# --------------------------------------------------------------------------- content


def test_index_holds_every_row_of_every_chunk_in_order() -> None:
    tables = mixed_tables()
    run = new_run()
    attempt = write_attempt(run, tables, row_group_size=5)  # several row groups per chunk

    result = index_attempt(get_settings().artifacts_bucket, location_of(run), row_group_rows=8)

    assert result is not None
    assert (result.rows, result.chunks, result.row_groups) == (40, 2, 5)
    index = read_parquet(attempt_prefix(run) + "index.parquet")
    assert index.schema_arrow.remove_metadata() == index_format.INDEX_SCHEMA
    assert index.metadata.num_row_groups == 5
    assert index.metadata.row_group(0).column(2).compression == "ZSTD"
    table = index.read()
    expected = reference_texts(tables)
    assert list(
        zip(
            table["chunk"].to_pylist(),
            table["row"].to_pylist(),
            table["_searchable"].to_pylist(),
            strict=True,
        )
    ) == [(chunk, row, text) for chunk, row, text in expected]
    assert decode_sources(index.schema_arrow.metadata[SOURCES_METADATA_KEY]) == attempt.sources()
    # The trigram file was written by the same run, describing this index.
    trigrams = read_parquet(attempt_prefix(run) + TRIGRAM_FILE)
    meta = trigrams.schema_arrow.metadata
    assert meta[b"etl_artifacts.trigram_format"] == b"1"
    assert meta[b"etl_artifacts.index_row_groups"] == b"5"
    assert decode_sources(meta[SOURCES_METADATA_KEY]) == attempt.sources()


def test_reindexing_gives_the_same_files() -> None:
    run = new_run()
    write_attempt(run, mixed_tables(), row_group_size=6)
    bucket = get_settings().artifacts_bucket
    index_attempt(bucket, location_of(run), row_group_rows=16)
    first = (get_bytes(attempt_prefix(run) + "index.parquet"), get_bytes(attempt_prefix(run) + TRIGRAM_FILE))
    index_attempt(bucket, location_of(run), row_group_rows=16)
    second = (get_bytes(attempt_prefix(run) + "index.parquet"), get_bytes(attempt_prefix(run) + TRIGRAM_FILE))
    assert first == second


def test_an_attempt_without_metadata_is_a_no_op() -> None:
    run = new_run()
    write_attempt(run, mixed_tables(), metadata=False)
    assert index_attempt(get_settings().artifacts_bucket, location_of(run)) is None
    assert list_attempt(artifact_store(), run, "extract", 1).index is None


def test_attempt_without_data_gets_an_empty_current_index() -> None:
    run = new_run()
    write_attempt(run, [])
    result = index_attempt(get_settings().artifacts_bucket, location_of(run))
    assert result is not None and result.rows == 0
    index = read_parquet(attempt_prefix(run) + "index.parquet")
    assert index.metadata.num_rows == 0
    assert decode_sources(index.schema_arrow.metadata[SOURCES_METADATA_KEY]) == []


def test_postings_sorted_in_several_bounded_passes_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:

    run = new_run()
    write_attempt(run, mixed_tables(), row_group_size=7)
    bucket = get_settings().artifacts_bucket
    index_attempt(bucket, location_of(run), row_group_rows=4)
    one_pass = read_parquet(attempt_prefix(run) + TRIGRAM_FILE).read()
    monkeypatch.setattr(index_format, "MAX_PAIRS_IN_MEMORY", 50)
    index_attempt(bucket, location_of(run), row_group_rows=4)
    many_passes = read_parquet(attempt_prefix(run) + TRIGRAM_FILE).read()
    assert many_passes.equals(one_pass)
    codes = one_pass["trigram"].to_pylist()
    assert codes == sorted(codes) and len(set(codes)) == len(codes)


# --------------------------------------------------------------------------- events and handler


def sqs_record(body: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:indexer",
        "awsRegion": "us-east-1",
    }


def eventbridge(key: str, bucket: str | None = None) -> dict[str, Any]:
    return {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": bucket or get_settings().artifacts_bucket}, "object": {"key": key}},
    }


def s3_notification(key: str, bucket: str | None = None) -> dict[str, Any]:
    from urllib.parse import quote_plus

    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": bucket or get_settings().artifacts_bucket},
                    "object": {"key": quote_plus(key, safe="/")},
                },
            }
        ]
    }


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = lambda_handler(event, LocalLambdaContext(function_name="IndexerFunction"))
    return result


def test_event_shapes_name_the_decoded_key() -> None:
    key = (
        "acme/3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f/2026-11-20/m__2026-11-20T10:15:30+00:00/"
        "load/attempt=2/metadata.parquet"
    )
    expected = [ObjectRef("bkt", key)]
    assert objects_in(eventbridge(key, "bkt")) == expected
    assert objects_in(s3_notification(key, "bkt")) == expected
    assert objects_in({"Records": [sqs_record(s3_notification(key, "bkt"))]}) == expected
    assert (
        objects_in({"Type": "Notification", "Message": json.dumps(s3_notification(key, "bkt"))}) == expected
    )
    assert objects_in({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "bkt"}) == []


def test_a_batch_with_one_corrupt_and_one_good_message_fails_only_the_corrupt_one() -> None:
    good, corrupt = new_run(), new_run()
    write_attempt(good, mixed_tables())
    write_attempt(corrupt, mixed_tables())
    put_object(attempt_prefix(corrupt) + "data_001.parquet", b"PAR1 this is not parquet PAR1")
    bad_id = str(uuid.uuid4())
    event = {
        "Records": [
            sqs_record(eventbridge(metadata_key(good))),
            sqs_record(eventbridge(metadata_key(corrupt)), message_id=bad_id),
        ]
    }

    assert invoke(event) == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    assert list_attempt(artifact_store(), good, "extract", 1).index is not None
    assert list_attempt(artifact_store(), corrupt, "extract", 1).index is None


def test_an_sqs_wrapped_s3_notification_with_encoded_run_id_is_indexed() -> None:
    run = new_run()
    write_attempt(run, mixed_tables())
    assert "+" in run.run_id and ":" in run.run_id
    assert invoke({"Records": [sqs_record(s3_notification(metadata_key(run)))]}) == {"batchItemFailures": []}
    assert list_attempt(artifact_store(), run, "extract", 1).index is not None


@pytest.mark.parametrize(
    "key",
    [
        "acme/not-a-uuid/2026-11-20/run/extract/attempt=1/metadata.parquet",
        "acme/3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f/2026-11-20/run/extract/attempt=1/data_000.parquet",
        "acme/3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f/2026-11-20/run/event/attempt=1/metadata.parquet",
        "acme/3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f/2026-11-20/bad run/extract/attempt=1/metadata.parquet",
        "3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f/2026-11-20/run/extract/attempt=1/metadata.parquet",
        "acme/3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f/2026-11-20/run/extract/attempt=0/metadata.parquet",
        "../acme/3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f/2026-11-20/run/extract/attempt=1/metadata.parquet",
    ],
)
def test_keys_outside_a_tenant_run_attempt_are_refused_without_retry(key: str) -> None:
    put_object(key, b"whatever")
    assert invoke({"Records": [sqs_record(eventbridge(key))]}) == {"batchItemFailures": []}
    listing = s3_client().list_objects_v2(
        Bucket=get_settings().artifacts_bucket, Prefix=key.rsplit("/", 1)[0]
    )
    assert not any(item["Key"].endswith("index.parquet") for item in listing.get("Contents", []))


def test_another_bucket_is_refused() -> None:
    run = new_run()
    write_attempt(run, mixed_tables())
    event = {"Records": [sqs_record(eventbridge(metadata_key(run), bucket="someone-elses-bucket"))]}
    assert invoke(event) == {"batchItemFailures": []}
    assert list_attempt(artifact_store(), run, "extract", 1).index is None


def test_a_direct_s3_notification_is_processed() -> None:
    run = new_run()
    write_attempt(run, mixed_tables())
    assert invoke(s3_notification(metadata_key(run)))["indexed"] == 1
    assert list_attempt(artifact_store(), run, "extract", 1).index is not None


@pytest.mark.parametrize("name", ["indexer_sqs_eventbridge.json", "indexer_s3_notification.json"])
def test_events_files_run_through_etl_artifacts_invoke(name: str) -> None:
    # The files name an object that does not exist here: a no-op, never a crash.
    command = [str(Path(sys.executable).with_name("etl-artifacts")), "invoke", "IndexerFunction", "-e"]
    completed = subprocess.run(
        [*command, str(REPO_ROOT / "events" / name)], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert json.loads(completed.stdout)["batchItemFailures"] == []


# --------------------------------------------------------------------------- CLI


@pytest.fixture(autouse=False)
def logger_level() -> Any:
    """The CLI quiets the service logger for its (short-lived) process: restore it for the suite."""
    from etl_artifacts.observability import logger

    level = logger.log_level
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("logger_level")
def test_cli_indexes_one_attempt_and_all_under_a_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    bucket = get_settings().artifacts_bucket
    company = f"cli-{uuid.uuid4().hex[:8]}"
    first, second = new_run(company), new_run(company)
    write_attempt(first, mixed_tables())
    write_attempt(second, mixed_tables())
    write_attempt(second, mixed_tables(), phase="load", attempt=2)

    assert cli_main(["index", f"s3://{bucket}/{metadata_key(first)}"]) == 0
    assert "40 rows in 2 chunks" in capsys.readouterr().out
    assert list_attempt(artifact_store(), first, "extract", 1).index is not None

    assert cli_main(["index", "--all", f"s3://{bucket}/{company}/"]) == 0
    out = capsys.readouterr().out
    assert "3 attempts to index" in out and "[3/3]" in out and "3 indexed, 0 failed" in out
    assert list_attempt(artifact_store(), second, "load", 2).index is not None


@pytest.mark.usefixtures("logger_level")
def test_cli_refuses_a_key_outside_the_layout() -> None:
    bucket = get_settings().artifacts_bucket
    assert cli_main(["index", f"s3://{bucket}/acme/elsewhere/metadata.parquet"]) == 2
    assert cli_main(["index", "s3://another-bucket/acme/x/metadata.parquet"]) == 2
    assert cli_main(["index"]) == 2
