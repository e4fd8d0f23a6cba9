"""S3 listing for every family: one paginated LIST of a prefix, and the objects it names.

boto3 only (no pyarrow): the Artifacts function lists runs with it, the Phases function and the
indexer classify an attempt's objects from it (``etl_artifacts.s3.attempts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from etl_artifacts.storage_errors import storage_errors


@dataclass(frozen=True)
class S3Object:
    key: str  # full S3 key
    etag: str  # without quotes
    size: int
    last_modified: datetime | None = None
    chunk: int | None = None  # NNN for data/logs/errors chunks

    @property
    def chunk_number(self) -> int:
        """The chunk's number; a single file (no NNN) counts as chunk 0."""
        return self.chunk or 0


def strip_etag(etag: Any) -> str:
    """The S3 ETag without its quotes (docs/api.md ``etag``)."""
    return str(etag or "").strip('"')


def list_prefix(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every object under ``prefix`` (paginated LIST with the boto3 ``client``); S3 failures become
    ``StorageError``."""
    with storage_errors("list prefix"):
        paginator = client.get_paginator("list_objects_v2")
        contents: list[dict[str, Any]] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            contents.extend(page.get("Contents", []))
        return contents
