"""What a phase attempt holds in S3 right now: one LIST of its prefix, classified by the layout.
Shared by the phases logic (pages, search) and the indexer (the sources of an index).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.layout import CHUNKED_NAMES, RunRef, attempt_dir, parse_chunk_name
from etl_artifacts.s3_listing import S3Object, list_prefix, strip_etag


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
        """The data chunks as an index records them (``index_format.sources_of``)."""
        from etl_artifacts.search.index_format import sources_of

        return sources_of(self.data)

    def sources_json(self) -> str:
        from etl_artifacts.search.index_format import encode_sources

        return encode_sources(self.sources())


def classify(bucket: str, prefix: str, contents: list[dict[str, Any]]) -> AttemptObjects:
    attempt = AttemptObjects(bucket=bucket, prefix=prefix)
    for item in contents:
        key: str = item["Key"]
        name = key[len(prefix) :]
        if "/" in name or not name.endswith(".parquet"):
            continue
        obj = S3Object(
            key=key,
            etag=strip_etag(item.get("ETag")),
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


def list_attempt_at(bucket: str, prefix: str) -> AttemptObjects:
    """The attempt whose full prefix (ending with ``/``) is ``prefix``."""
    return classify(bucket, prefix, list_prefix(bucket, prefix))


def list_attempt(run: RunRef, phase: str, attempt: int) -> AttemptObjects:
    settings = get_settings()
    prefix = run.prefix(settings.artifacts_prefix) + attempt_dir(phase, attempt)
    return list_attempt_at(require_bucket(settings), prefix)
