"""What a phase attempt holds in S3 right now: one LIST of its prefix, classified by the layout.
Shared by the phases logic (pages, search) and the indexer (the sources of an index).

``completed_attempt`` keeps the listing of a completed attempt for a short while: once
``metadata.parquet`` exists the ETL writer adds nothing to the attempt (CONTRACT §2: it is
written LAST), so a warm data page or search costs no LIST round trip. The time bound is how
long a rewritten attempt or a newly written index can go unseen.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from etl_artifacts.clients import s3_client
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


#: Seconds a completed attempt's listing is reused (and how stale it may be).
LISTING_TTL_S = 30.0
_MAX_LISTINGS = 256
_listings: OrderedDict[tuple[Any, ...], tuple[float, AttemptObjects]] = OrderedDict()
_listings_lock = threading.Lock()


def _is_indexed(objects: AttemptObjects) -> bool:
    from etl_artifacts.search.index_format import TRIGRAM_FILE

    return objects.index is not None and TRIGRAM_FILE in objects.extra


def completed_attempt(
    run: RunRef, phase: str, attempt: int, *, indexed: bool = False, fresh: bool = False
) -> tuple[AttemptObjects, bool]:
    """``list_attempt``, reusing a completed attempt's listing for up to ``LISTING_TTL_S``;
    ``(objects, True)`` when the listing came from the cache.

    ``indexed``: the caller searches, so a cached listing without the index files is listed
    again (the indexer writes them after the attempt completes). ``fresh``: list again (a read
    through the cached listing failed: the attempt was rewritten).
    """
    settings = get_settings()
    bucket = require_bucket(settings)
    prefix = run.prefix(settings.artifacts_prefix) + attempt_dir(phase, attempt)
    # The client is part of the key, as for footers: another endpoint is another store.
    key = (id(s3_client()), bucket, prefix)
    now = time.monotonic()
    with _listings_lock:
        cached = None if fresh else _listings.get(key)
    if cached is not None and cached[0] > now and (_is_indexed(cached[1]) or not indexed):
        return cached[1], True
    objects = list_attempt_at(bucket, prefix)
    if objects.metadata is not None:
        with _listings_lock:
            _listings[key] = (now + LISTING_TTL_S, objects)
            _listings.move_to_end(key)
            while len(_listings) > _MAX_LISTINGS:
                _listings.popitem(last=False)
    return objects, False


def clear_cache() -> None:
    """Forget cached listings (tests that rewrite an attempt)."""
    with _listings_lock:
        _listings.clear()
