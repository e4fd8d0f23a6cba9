"""What a phase attempt holds in S3 right now: one LIST of its prefix, classified by the layout.
Shared by the phases logic (pages, search) and the indexer (the sources of an index).

``as_listed_now`` keeps the listing of a completed attempt for a short while and answers from it
at once, while a fresh LIST runs alongside the answer's first storage reads: a warm data page or
search waits for no LIST before reading (the round-trip depth stays that of its reads), yet its
answer is always the one a fresh LIST gives. Should the fresh listing differ (a chunk rewritten,
an index written since), the answer is made again from it (docs/limits.md "Answers as listed now").
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings, require_bucket
from etl_artifacts.errors import DeadlineExceeded
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
        """docs/api.md: an attempt exists when it has metadata or data."""
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
        objects.sort(key=lambda o: o.chunk_number)  # numeric: data_1000 after data_999
    return attempt


def list_attempt_at(bucket: str, prefix: str) -> AttemptObjects:
    """The attempt whose full prefix (ending with ``/``) is ``prefix``."""
    return classify(bucket, prefix, list_prefix(bucket, prefix))


def list_attempt(run: RunRef, phase: str, attempt: int) -> AttemptObjects:
    settings = get_settings()
    prefix = run.prefix(settings.artifacts_prefix) + attempt_dir(phase, attempt)
    return list_attempt_at(require_bucket(settings), prefix)


#: Seconds a completed attempt's listing is kept to start answers from (each one validated).
LISTING_TTL_S = 30.0
_MAX_LISTINGS = 256
_listings: OrderedDict[tuple[Any, ...], tuple[float, AttemptObjects]] = OrderedDict()
_listings_lock = threading.Lock()

T = TypeVar("T")


def _is_indexed(objects: AttemptObjects) -> bool:
    from etl_artifacts.search.index_format import TRIGRAM_FILE

    return objects.index is not None and TRIGRAM_FILE in objects.extra


def _signature(objects: AttemptObjects) -> tuple[tuple[str, str, int], ...]:
    """Every object of the listing (key, ETag, size): two listings give the same answers when equal."""
    found = [objects.metadata, objects.index, *objects.extra.values()]
    found += [obj for chunks in objects.chunks.values() for obj in chunks]
    return tuple(sorted((obj.key, obj.etag, obj.size) for obj in found if obj is not None))


def _remember(key: tuple[Any, ...], objects: AttemptObjects) -> None:
    if objects.metadata is None:
        return  # a running attempt still changes: never kept
    with _listings_lock:
        _listings[key] = (time.monotonic() + LISTING_TTL_S, objects)
        _listings.move_to_end(key)
        while len(_listings) > _MAX_LISTINGS:
            _listings.popitem(last=False)


def as_listed_now(
    run: RunRef, phase: str, attempt: int, work: Callable[[AttemptObjects], T], *, indexed: bool = False
) -> T:
    """``work(list_attempt(run, phase, attempt))``, started from a kept listing when there is one.

    ``work`` must depend on the listing alone. With a kept listing of the completed attempt, a
    fresh LIST runs concurrently with ``work``; when it lists the same objects, ``work``'s answer
    (or error) stands, else ``work`` runs again on the fresh listing. ``indexed``: the caller
    searches, so a kept listing without the index files is not used (the indexer writes them
    after the attempt completes).
    """
    from etl_artifacts.parquet.pool import submit

    settings = get_settings()
    bucket = require_bucket(settings)
    prefix = run.prefix(settings.artifacts_prefix) + attempt_dir(phase, attempt)
    # The client is part of the key, as for footers: another endpoint is another store.
    key = (id(s3_client()), bucket, prefix)
    with _listings_lock:
        kept = _listings.get(key)
    if kept is None or kept[0] <= time.monotonic() or (indexed and not _is_indexed(kept[1])):
        objects = list_attempt_at(bucket, prefix)
        _remember(key, objects)
        return work(objects)
    cached = kept[1]
    fresh = submit(list_attempt_at, bucket, prefix)
    try:
        answer = work(cached)
    except Exception as exc:
        # A read through a stale listing may fail (other sizes, footers): the fresh one decides.
        current = fresh.result()
        _remember(key, current)
        if _signature(current) == _signature(cached) or isinstance(exc, DeadlineExceeded):
            raise
        return work(current)
    current = fresh.result()
    _remember(key, current)
    return answer if _signature(current) == _signature(cached) else work(current)


def clear_cache() -> None:
    """Forget cached listings (tests that rewrite an attempt)."""
    with _listings_lock:
        _listings.clear()
