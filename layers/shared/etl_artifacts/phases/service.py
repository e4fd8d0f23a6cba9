"""One logic function per Phases route (CONTRACT §4): the route parses, calls one of these once,
and shapes the response. Each lists the attempt (one LIST), then reads through
``parquet.chunkset.ChunkSet`` or ``search.search_data``.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl_artifacts.attempts import AttemptObjects, completed_attempt, list_attempt
from etl_artifacts.errors import PhaseNotFound, StorageError
from etl_artifacts.layout import RunRef
from etl_artifacts.parquet.paging import page_window
from etl_artifacts.phases import continuation_tokens
from etl_artifacts.phases.event import read_event
from etl_artifacts.phases.logs import LogFilter, filtered_page, ndjson_body
from etl_artifacts.phases.models import EventResponse, ParquetPageResponse
from etl_artifacts.phases.pages import page_of, page_of_refs
from etl_artifacts.search import SearchMode, search_data


@dataclass(frozen=True)
class DataPage:
    body: ParquetPageResponse
    search_mode: SearchMode | None  # how a keyword's matches were found; None without keyword


@dataclass(frozen=True)
class NdjsonPage:
    text: str
    continuation_token: str | None  # present when more rows remain


def _existing_attempt(run: RunRef, phase: str, attempt: int) -> AttemptObjects:
    objects = list_attempt(run, phase, attempt)
    if not objects.exists:
        raise PhaseNotFound()
    return objects


def event(run: RunRef) -> EventResponse:
    return read_event(run)


def metadata_page(run: RunRef, phase: str, attempt: int, *, page: int, limit: int) -> ParquetPageResponse:
    objects = list_attempt(run, phase, attempt)
    if objects.metadata is None:
        raise PhaseNotFound()
    return page_of([objects.metadata], page=page, limit=limit)


def data_page(
    run: RunRef, phase: str, attempt: int, *, page: int, limit: int, keyword: str | None
) -> DataPage:
    # A completed attempt's data chunks no longer change: a warm page reuses its listing. Should
    # the attempt have been rewritten all the same, reading through the old listing fails (other
    # sizes and footers), and the page is read again from a fresh listing.
    objects, cached = completed_attempt(run, phase, attempt, indexed=keyword is not None)
    try:
        return _data_page(objects, page=page, limit=limit, keyword=keyword)
    except StorageError:
        if not cached:
            raise
    objects, _ = completed_attempt(run, phase, attempt, indexed=keyword is not None, fresh=True)
    return _data_page(objects, page=page, limit=limit, keyword=keyword)


def _data_page(objects: AttemptObjects, *, page: int, limit: int, keyword: str | None) -> DataPage:
    if not objects.exists:
        raise PhaseNotFound()
    if keyword is None:
        return DataPage(page_of(objects.data, page=page, limit=limit), None)
    start, _ = page_window(page, limit)
    found = search_data(objects, keyword, start, limit)
    body = page_of_refs(objects.data, found.refs, page=page, limit=limit, total_rows=found.total)
    return DataPage(body, found.mode)


def errors_page(run: RunRef, phase: str, attempt: int, *, page: int, limit: int) -> ParquetPageResponse:
    objects = _existing_attempt(run, phase, attempt)
    return page_of(objects.chunks["errors"], page=page, limit=limit)


def logs_page(
    run: RunRef,
    phase: str,
    attempt: int,
    *,
    page: int,
    limit: int,
    level: str | None,
    keyword: str | None,
) -> ParquetPageResponse:
    objects = _existing_attempt(run, phase, attempt)
    return filtered_page(objects.chunks["logs"], LogFilter(level, keyword), page=page, limit=limit)


def logs_ndjson(
    run: RunRef,
    phase: str,
    attempt: int,
    *,
    level: str | None,
    keyword: str | None,
    continuation_token: str | None,
    max_bytes: int,
) -> NdjsonPage:
    scope = continuation_tokens.TokenScope(
        run=run, phase=phase, attempt=attempt, level=level, keyword=keyword
    )
    # A token is checked before any S3 call: a foreign or forged one is refused without reading.
    resume = None if continuation_token is None else continuation_tokens.decode(scope, continuation_token)
    objects = _existing_attempt(run, phase, attempt)
    result = ndjson_body(
        objects.chunks["logs"], LogFilter(level, keyword), resume=resume, max_bytes=max_bytes
    )
    token = None if result.resume_at is None else continuation_tokens.encode(scope, result.resume_at)
    return NdjsonPage(result.text, token)
