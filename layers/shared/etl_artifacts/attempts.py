"""What a phase attempt holds in S3 right now: one paginated LIST of its prefix, classified by
the layout. Shared by the phases routes (pages, search) and the indexer (sources of an index).

The ``sources`` of an index (CONTRACT §2, schema metadata ``etl_artifacts.sources``) are the data
chunks as listed here: ``[{"key": full S3 key, "etag": ETag without quotes, "size": bytes}]`` in
chunk order. An index is current only while that list equals ``AttemptObjects.sources()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.errors import StorageError
from etl_artifacts.layout import CHUNKED_NAMES, RunRef, attempt_dir, parse_chunk_name

SOURCES_METADATA_KEY = b"etl_artifacts.sources"


@dataclass(frozen=True)
class S3Object:
    key: str  # full S3 key
    etag: str  # without quotes
    size: int
    last_modified: datetime | None = None
    chunk: int | None = None  # NNN for data/logs/errors chunks

    def source_entry(self) -> dict[str, Any]:
        return {"key": self.key, "etag": self.etag, "size": self.size}


@dataclass
class AttemptObjects:
    bucket: str
    prefix: str  # full prefix of the attempt, ending with '/'
    metadata: S3Object | None = None
    index: S3Object | None = None
    extra: dict[str, S3Object] = field(default_factory=dict)  # other files, e.g. index_trigrams.parquet
    chunks: dict[str, list[S3Object]] = field(default_factory=lambda: {name: [] for name in CHUNKED_NAMES})

    @property
    def data(self) -> list[S3Object]:
        return self.chunks["data"]

    @property
    def exists(self) -> bool:
        """CONTRACT §4: an attempt exists when it has metadata or data."""
        return self.metadata is not None or bool(self.data)

    def sources(self) -> list[dict[str, Any]]:
        return [obj.source_entry() for obj in self.data]

    def sources_json(self) -> str:
        return encode_sources(self.sources())


def encode_sources(sources: list[dict[str, Any]]) -> str:
    return json.dumps(sources, separators=(",", ":"), sort_keys=True)


def decode_sources(raw: bytes | str | None) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, list) else None


def _strip_etag(etag: str | None) -> str:
    return (etag or "").strip('"')


def list_prefix(bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every object under ``prefix`` (paginated LIST); S3 failures become ``StorageError``."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client()
    try:
        paginator = client.get_paginator("list_objects_v2")
        contents: list[dict[str, Any]] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            contents.extend(page.get("Contents", []))
        return contents
    except (BotoCoreError, ClientError) as exc:
        raise StorageError() from exc


def classify(bucket: str, prefix: str, contents: list[dict[str, Any]]) -> AttemptObjects:
    attempt = AttemptObjects(bucket=bucket, prefix=prefix)
    for item in contents:
        key: str = item["Key"]
        name = key[len(prefix) :]
        if "/" in name or not name.endswith(".parquet"):
            continue
        obj = S3Object(
            key=key,
            etag=_strip_etag(item.get("ETag")),
            size=int(item.get("Size", 0)),
            last_modified=item.get("LastModified"),
        )
        if name == "metadata.parquet":
            attempt.metadata = obj
            continue
        if name == "index.parquet":
            attempt.index = obj
            continue
        for chunked in CHUNKED_NAMES:
            number = parse_chunk_name(name, chunked)
            if number is not None:
                attempt.chunks[chunked].append(
                    S3Object(obj.key, obj.etag, obj.size, obj.last_modified, chunk=number)
                )
                break
        else:
            attempt.extra[name] = obj
    for objects in attempt.chunks.values():
        objects.sort(key=lambda o: o.chunk or 0)  # numeric: data_1000 after data_999
    return attempt


def list_attempt(run: RunRef, phase: str, attempt: int) -> AttemptObjects:
    settings = get_settings()
    bucket = require_bucket(settings)
    prefix = run.prefix(settings.artifacts_prefix) + attempt_dir(phase, attempt)
    return classify(bucket, prefix, list_prefix(bucket, prefix))
