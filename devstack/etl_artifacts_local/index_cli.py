"""``etl-artifacts index``: run the indexer from the command line (backfills, local data).

``etl-artifacts index s3://BUCKET/…/extract/attempt=1/metadata.parquet`` indexes one attempt;
``etl-artifacts index --all s3://BUCKET/PREFIX`` (or a bare key prefix inside ARTIFACTS_BUCKET)
indexes every attempt found under the prefix, printing progress. The same code as the Lambda
function runs; the bucket must be ARTIFACTS_BUCKET (it is taken from the URI when unset).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        metavar="S3_URI",
        help="s3://bucket/<tenant run>/<phase>/attempt=<n>/metadata.parquet",
    )
    parser.add_argument(
        "--all",
        dest="all_prefix",
        metavar="PREFIX",
        help="index every attempt under PREFIX (s3://bucket/prefix, or a key prefix in ARTIFACTS_BUCKET)",
    )
    parser.add_argument(
        "--row-group-rows", type=int, default=None, help="rows per index.parquet row group (default 16384)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also print the indexer's JSON log lines"
    )
    parser.set_defaults(func=run)


def split_s3_uri(uri: str) -> tuple[str | None, str]:
    """``s3://bucket/key`` -> (bucket, key); a bare key -> (None, key)."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bucket, key
    return None, uri


def _use_bucket(bucket: str | None) -> str | None:
    """The bucket to index, reconciled with ARTIFACTS_BUCKET; ``None`` (after a message) if they differ."""
    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings

    configured = get_settings().artifacts_bucket
    if bucket and not configured:
        os.environ["ARTIFACTS_BUCKET"] = bucket
        get_settings.cache_clear()
        reset_clients()
        return bucket
    if bucket and bucket != configured:
        print("the S3 URI names another bucket than ARTIFACTS_BUCKET", file=sys.stderr)
        return None
    if not configured:
        print("give an s3://bucket/... URI or set ARTIFACTS_BUCKET", file=sys.stderr)
        return None
    return configured


def _describe(result: Any) -> str:
    if result.skipped:
        return "index already current, nothing built"
    return (
        f"{result.rows} rows in {result.chunks} chunks, {result.row_groups} row groups, "
        f"index {result.index_bytes} B + trigrams {result.trigram_bytes} B, {result.seconds:.2f}s"
    )


def run(args: argparse.Namespace) -> int:
    from etl_artifacts.indexing.builder import use_indexer_memory_pool
    from etl_artifacts.observability import logger

    use_indexer_memory_pool()
    if not args.verbose:
        logger.setLevel("WARNING")
    if bool(args.target) == bool(args.all_prefix):
        print("give exactly one of S3_URI or --all PREFIX", file=sys.stderr)
        return 2
    if args.row_group_rows is not None and args.row_group_rows < 1:
        print("--row-group-rows must be >= 1", file=sys.stderr)
        return 2
    if args.target:
        return _index_one(args.target, args.row_group_rows)
    return _index_all(args.all_prefix, args.row_group_rows)


def _index_one(uri: str, row_group_rows: int | None) -> int:
    from etl_artifacts.config import get_settings
    from etl_artifacts.errors import ApiError
    from etl_artifacts.indexing.builder import INDEX_ROW_GROUP_ROWS, index_attempt
    from etl_artifacts.s3.layout import parse_metadata_key

    bucket_in_uri, key = split_s3_uri(uri)
    bucket = _use_bucket(bucket_in_uri)
    if bucket is None:
        return 2
    location = parse_metadata_key(key, get_settings().artifacts_prefix)
    if location is None:
        print("not the metadata.parquet of a phase attempt under a tenant run", file=sys.stderr)
        return 2
    try:
        result = index_attempt(bucket, location, row_group_rows or INDEX_ROW_GROUP_ROWS)
    except ApiError as exc:
        print(f"indexing failed: {exc.detail}", file=sys.stderr)
        return 1
    if result is None:
        print("metadata.parquet not found: the attempt is not complete, nothing indexed", file=sys.stderr)
        return 1
    print(f"indexed {key}: {_describe(result)}")
    return 0


def _index_all(prefix_uri: str, row_group_rows: int | None) -> int:
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings
    from etl_artifacts.errors import ApiError
    from etl_artifacts.indexing.builder import INDEX_ROW_GROUP_ROWS, index_attempt
    from etl_artifacts.s3.layout import parse_metadata_key
    from etl_artifacts.s3.listing import list_prefix

    bucket_in_uri, prefix = split_s3_uri(prefix_uri)
    bucket = _use_bucket(bucket_in_uri)
    if bucket is None:
        return 2
    artifacts_prefix = get_settings().artifacts_prefix
    try:
        keys = sorted(
            item["Key"]
            for item in list_prefix(s3_client(), bucket, prefix)
            if item["Key"].endswith("/metadata.parquet")
        )
    except ApiError as exc:
        print(f"listing failed: {exc.detail}", file=sys.stderr)
        return 1
    locations = [(key, parse_metadata_key(key, artifacts_prefix)) for key in keys]
    attempts = [(key, location) for key, location in locations if location is not None]
    print(f"{len(attempts)} attempts to index under the prefix", flush=True)
    failed = 0
    started = time.perf_counter()
    for number, (key, location) in enumerate(attempts, start=1):
        try:
            result = index_attempt(bucket, location, row_group_rows or INDEX_ROW_GROUP_ROWS)
        except ApiError as exc:
            failed += 1
            print(f"[{number}/{len(attempts)}] {key}: FAILED ({exc.detail})", flush=True)
            continue
        status = _describe(result) if result is not None else "skipped (no metadata.parquet)"
        print(f"[{number}/{len(attempts)}] {key}: {status}", flush=True)
    print(f"done in {time.perf_counter() - started:.1f}s: {len(attempts) - failed} indexed, {failed} failed")
    return 1 if failed else 0
