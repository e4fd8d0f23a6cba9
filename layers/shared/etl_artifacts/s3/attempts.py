"""What a phase attempt holds in S3 right now: one LIST of its prefix, classified by the layout.
Shared by the phases logic (pages, search) and the indexer (the sources of an index). Every
function takes the ``ArtifactStore`` (its client, bucket, prefix and kept listings).

``as_listed_now`` keeps the listing of a completed attempt (``store.listings``) for a short while
and answers from it at once, while a fresh LIST runs alongside the answer's first storage reads: a
warm data page or search waits for no LIST before reading (the round-trip depth stays that of its
reads), yet its answer is always the one a fresh LIST gives. Should the fresh listing differ (a
chunk rewritten, an index written since), the answer is made again from it (docs/limits.md "Answers
as listed now").
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from etl_artifacts.errors import DeadlineExceeded
from etl_artifacts.parquet.pool import submit
from etl_artifacts.s3.artifact_store import ArtifactStore
from etl_artifacts.s3.layout import CHUNKED_NAMES, RunRef, attempt_dir, parse_chunk_name
from etl_artifacts.s3.listing import S3Object, list_prefix, strip_etag


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
        """docs/api.md: an attempt exists when it has metadata or data."""
        return self.metadata is not None or bool(self.data)

    def sources(self) -> list[dict[str, Any]]:
        """The data chunks as an index records them (``search.index_format``: ``etl_artifacts.sources``)."""
        return sources_of(self.data)

    def sources_json(self) -> str:
        return encode_sources(self.sources())


def sources_of(data: list[S3Object]) -> list[dict[str, Any]]:
    """The ``etl_artifacts.sources`` entries of these data chunks."""
    return [{"key": obj.key, "etag": obj.etag, "size": obj.size} for obj in data]


def encode_sources(sources: list[dict[str, Any]]) -> str:
    return json.dumps(sources, separators=(",", ":"), sort_keys=True)


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
        objects.sort(key=lambda o: o.chunk_number)  # numeric: data_1000 after data_999
    return attempt


def list_attempt_at(store: ArtifactStore, prefix: str) -> AttemptObjects:
    """The attempt whose full prefix (ending with ``/``) is ``prefix``."""
    bucket = store.bucket
    return classify(bucket, prefix, list_prefix(store.s3, bucket, prefix))


def attempt_prefix(store: ArtifactStore, run: RunRef, phase: str, attempt: int) -> str:
    return run.prefix(store.prefix) + attempt_dir(phase, attempt)


def list_attempt(store: ArtifactStore, run: RunRef, phase: str, attempt: int) -> AttemptObjects:
    return list_attempt_at(store, attempt_prefix(store, run, phase, attempt))


#: Seconds a completed attempt's listing is kept to start answers from (each one validated).
LISTING_TTL_S = 30.0

T = TypeVar("T")


def _signature(objects: AttemptObjects) -> tuple[tuple[str, str, int], ...]:
    """Every object of the listing (key, ETag, size): two listings give the same answers when equal."""
    found = [objects.metadata, objects.index, *objects.extra.values()]
    found += [obj for chunks in objects.chunks.values() for obj in chunks]
    return tuple(sorted((obj.key, obj.etag, obj.size) for obj in found if obj is not None))


def _remember(store: ArtifactStore, prefix: str, objects: AttemptObjects) -> None:
    if objects.metadata is None:
        return  # a running attempt still changes: never kept
    store.listings.put(prefix, (time.monotonic() + LISTING_TTL_S, objects))


def as_listed_now(
    store: ArtifactStore,
    run: RunRef,
    phase: str,
    attempt: int,
    work: Callable[[AttemptObjects], T],
    *,
    usable: Callable[[AttemptObjects], bool] | None = None,
) -> T:
    """``work(list_attempt(store, run, phase, attempt))``, started from a kept listing when there is one.

    ``work`` must depend on the listing alone. With a kept listing of the completed attempt, a
    fresh LIST runs concurrently with ``work``; when it lists the same objects, ``work``'s answer
    (or error) stands, else ``work`` runs again on the fresh listing. ``usable``: whether a kept
    listing may serve this caller at all (a search wants one that lists the index files, which the
    indexer writes after the attempt completes).
    """
    prefix = attempt_prefix(store, run, phase, attempt)
    kept = store.listings.get(prefix)
    if kept is None or kept[0] <= time.monotonic() or (usable is not None and not usable(kept[1])):
        objects = list_attempt_at(store, prefix)
        _remember(store, prefix, objects)
        return work(objects)
    cached: AttemptObjects = kept[1]
    fresh = submit(list_attempt_at, store, prefix)
    try:
        answer = work(cached)
    except Exception as exc:
        # A read through a stale listing may fail (other sizes, footers): the fresh one decides.
        current = fresh.result()
        _remember(store, prefix, current)
        if _signature(current) == _signature(cached) or isinstance(exc, DeadlineExceeded):
            raise
        return work(current)
    current = fresh.result()
    _remember(store, prefix, current)
    return answer if _signature(current) == _signature(cached) else work(current)
