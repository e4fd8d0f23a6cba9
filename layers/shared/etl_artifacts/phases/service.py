"""One logic function per Phases route (docs/api.md): the route parses, calls one of these once,
and shapes the response. Each takes the warm function's ``ArtifactStore`` once, lists the attempt
through it (one LIST), then reads through ``parquet.chunkset.ChunkSet`` or ``search.search_data``,
handing the store down.

A keyword search that runs out of time without a current index is where an index build is decided
(``search_matches``): the build is queued here and the 503 says to retry once it is likely built.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from etl_artifacts.config import get_settings
from etl_artifacts.errors import DeadlineExceeded, PhaseNotFound, UnknownColumn
from etl_artifacts.indexing.queue import queue_index_build
from etl_artifacts.parquet.chunkset import ChunkSet
from etl_artifacts.parquet.layout_file import prefetch as prefetch_layout
from etl_artifacts.parquet.paging import page_window
from etl_artifacts.phases import continuation_tokens
from etl_artifacts.phases.event import read_event
from etl_artifacts.phases.logs import LogFilter, filtered_page, ndjson_body
from etl_artifacts.phases.models import EventResponse, Order, ParquetPageResponse
from etl_artifacts.phases.pages import Page, page_of, page_of_refs
from etl_artifacts.ratelimit.tenant_gate import scan_lease
from etl_artifacts.s3.artifact_store import ArtifactStore, artifact_store
from etl_artifacts.s3.attempts import AttemptObjects, as_listed_now, list_attempt
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.s3.listing import S3Object
from etl_artifacts.search import SearchMode, SearchResult, has_current_index, lists_index_files, search_data

# Retry-After when a scan ran out of time and an index build was queued: the indexer's time for a
# large attempt (an estimate: the build streams the chunks once; see bench_indexer for figures).
INDEX_BUILD_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class DataPage:
    page: Page
    search_mode: SearchMode | None  # how a keyword's matches were found; None without keyword


@dataclass(frozen=True)
class NdjsonPage:
    text: str
    continuation_token: str | None  # present when more rows remain, or the attempt is running


def _existing_attempt(store: ArtifactStore, run: RunRef, phase: str, attempt: int) -> AttemptObjects:
    objects = list_attempt(store, run, phase, attempt)
    if not objects.exists:
        raise PhaseNotFound()
    return objects


def _projection(
    store: ArtifactStore, data: Sequence[S3Object], columns: Sequence[str] | None
) -> list[str] | None:
    """``columns`` when every one is a column of the data chunks (their footers say), else 422."""
    if columns is None:
        return None
    present = set(ChunkSet(store, data).schema.names)
    if any(name not in present for name in columns):
        raise UnknownColumn()
    return list(columns)


def event(run: RunRef) -> EventResponse:
    return read_event(artifact_store(), run)


def metadata_page(run: RunRef, phase: str, attempt: int, *, page: int, limit: int) -> ParquetPageResponse:
    store = artifact_store()
    objects = list_attempt(store, run, phase, attempt)
    if objects.metadata is None:
        raise PhaseNotFound()
    return page_of(store, [objects.metadata], page=page, limit=limit).body()


def data_page(
    run: RunRef,
    phase: str,
    attempt: int,
    *,
    page: int,
    limit: int,
    keyword: str | None,
    columns: Sequence[str] | None = None,
) -> DataPage:
    store = artifact_store()

    # A warm page starts from the kept listing of a completed attempt, validated by a LIST that
    # runs alongside its reads: the answer is always the one a fresh listing gives. A cold one
    # fetches the layout file alongside its LIST: the chunks' footers without a request each.
    layout = prefetch_layout(store, run, phase, attempt)

    def work(objects: AttemptObjects) -> DataPage:
        layout.seed(objects.data)
        return _data_page(store, objects, page=page, limit=limit, keyword=keyword, columns=columns)

    usable = None if keyword is None else lists_index_files
    return as_listed_now(store, run, phase, attempt, work, usable=usable)


def _data_page(
    store: ArtifactStore,
    objects: AttemptObjects,
    *,
    page: int,
    limit: int,
    keyword: str | None,
    columns: Sequence[str] | None,
) -> DataPage:
    if not objects.exists:
        raise PhaseNotFound()
    projection = _projection(store, objects.data, columns)
    if keyword is None:
        return DataPage(page_of(store, objects.data, page=page, limit=limit, columns=projection), None)
    start, _ = page_window(page, limit)
    # The keyword matches the whole row; only the page's rows are then read, projected.
    found = search_matches(store, objects, keyword, start, limit)
    rows = page_of_refs(
        store, objects.data, found.refs, page=page, limit=limit, total_rows=found.total, columns=projection
    )
    return DataPage(rows, found.mode)


def search_matches(
    store: ArtifactStore, objects: AttemptObjects, keyword: str, offset: int, limit: int
) -> SearchResult:
    """``search_data``; when it runs out of time without a current index (it was scanning), an
    index build is queued so that the retry is fast, and the 503 says when to retry."""
    try:
        return search_data(store, objects, keyword, offset, limit)
    except DeadlineExceeded as exc:
        if has_current_index(store, objects) or not queue_index_build(store, objects):
            raise
        raise DeadlineExceeded(exc.detail, retry_after=INDEX_BUILD_RETRY_AFTER_S) from exc


def errors_page(run: RunRef, phase: str, attempt: int, *, page: int, limit: int) -> Page:
    store = artifact_store()
    objects = _existing_attempt(store, run, phase, attempt)
    return page_of(store, objects.chunks["errors"], page=page, limit=limit)


def logs_page(
    run: RunRef,
    phase: str,
    attempt: int,
    *,
    page: int,
    limit: int,
    level: str | None,
    keyword: str | None,
    order: Order = "asc",
) -> Page:
    store = artifact_store()
    objects = _existing_attempt(store, run, phase, attempt)
    flt = LogFilter(level, keyword)
    with _expensive(flt, objects.chunks["logs"]):
        return filtered_page(store, objects.chunks["logs"], flt, page=page, limit=limit, order=order)


def _expensive(flt: LogFilter, logs: Sequence[S3Object]) -> AbstractContextManager[None]:
    """A filter over more than one chunk reads them all: one of the tenant's few concurrent scans."""
    return scan_lease() if flt.active and len(logs) > 1 else nullcontext()


def logs_ndjson(
    run: RunRef,
    phase: str,
    attempt: int,
    *,
    level: str | None,
    keyword: str | None,
    continuation_token: str | None,
    max_bytes: int,
    order: Order = "asc",
) -> NdjsonPage:
    """Matching log rows as NDJSON within ``max_bytes`` of body cost (docs/api.md, docs/limits.md).

    An ascending stream of an attempt without ``metadata.parquet`` (still running) always ends
    with a token, so a client can follow it; a token is tied to the chunks it has passed.
    """
    scope = continuation_tokens.TokenScope(
        run=run, phase=phase, attempt=attempt, level=level, keyword=keyword, order=order
    )
    key = get_settings().hmac_key
    # A token is checked before any S3 call: a foreign or forged one is refused without reading.
    resume = None
    if continuation_token is not None:
        resume = continuation_tokens.decode(scope, continuation_token, key)
    store = artifact_store()
    objects = _existing_attempt(store, run, phase, attempt)
    logs = objects.chunks["logs"]
    if resume is not None:
        continuation_tokens.verify(resume, logs, lambda obj: sum(store.footers.get(obj).row_counts))
    flt = LogFilter(level, keyword)
    with _expensive(flt, logs):
        result = ndjson_body(
            store,
            logs,
            flt,
            order=order,
            resume=resume,
            follow=objects.metadata is None,
            max_bytes=max_bytes,
            artifact_kind=f"{phase}-logs",
        )
    token = None if result.stop is None else continuation_tokens.encode(scope, result.stop, key)
    return NdjsonPage(result.text, token)
