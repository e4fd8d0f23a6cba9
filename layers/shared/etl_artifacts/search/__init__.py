"""Deep keyword search over a phase attempt's data chunks (docs/architecture.md, docs/api.md).

``search_data`` picks the cheapest mode that gives the exact answer:

1. ``trigram``: ``index.parquet`` and ``index_trigrams.parquet`` are current and the keyword has at
   least 3 characters — only the index row groups whose trigram postings hold every trigram of
   the keyword are read;
2. ``index``: ``index.parquet`` is current — its ``_searchable`` column is matched;
3. ``scan``: otherwise — the data chunks are read and their text built on the fly.

Results (``total`` and ``refs``) are identical in every mode. pyarrow is imported only when a
search runs, so importing this package stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from etl_artifacts.errors import DeadlineExceeded

if TYPE_CHECKING:
    from etl_artifacts.attempts import AttemptObjects

SearchMode = Literal["index", "scan", "trigram"]
# Retry-After when a scan ran out of time and an index build was queued: the indexer's time for a
# large attempt (an estimate: the build streams the chunks once; see bench_indexer for figures).
INDEX_BUILD_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class SearchResult:
    mode: SearchMode
    total: int  # exact number of matching rows in the attempt
    refs: list[tuple[int, int]]  # (chunk NNN, row within chunk) of the page's rows, in row order


def search_data(attempt: AttemptObjects, keyword: str, offset: int, limit: int) -> SearchResult:
    """Rows of the attempt whose searchable text contains ``keyword`` (case-insensitive, literal).

    ``offset``/``limit`` select the page among the matches (in row order). S3 failures and
    unreadable parquet raise ``StorageError``.
    """
    from etl_artifacts.search import engine
    from etl_artifacts.search.text import normalize_keyword

    needle = normalize_keyword(keyword)
    index_metadata = engine.current_index(attempt)
    if index_metadata is not None and attempt.index is not None:
        candidates = engine.trigram_candidates(attempt, index_metadata, needle)
        if candidates is not None:
            total, refs = engine.index_search(attempt.index, needle, offset, limit, row_groups=candidates)
            return SearchResult("trigram", total, refs)
        total, refs = engine.index_search(attempt.index, needle, offset, limit)
        return SearchResult("index", total, refs)
    from etl_artifacts.ratelimit.tenant_gate import scan_lease

    try:
        # A scan reads every data chunk: one of the tenant's few concurrent scans (docs/limits.md).
        with scan_lease():
            total, refs = engine.scan(attempt, needle, offset, limit)
    except DeadlineExceeded as exc:
        # No current index and no time to scan: have one built, so that the retry is fast.
        from etl_artifacts.indexing.queue import queue_index_build

        if queue_index_build(attempt):
            exc.retry_after = INDEX_BUILD_RETRY_AFTER_S
        raise
    return SearchResult("scan", total, refs)


__all__ = ["SearchMode", "SearchResult", "search_data"]
