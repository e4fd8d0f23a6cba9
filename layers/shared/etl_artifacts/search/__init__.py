"""Deep keyword search over a phase attempt's data chunks (docs/architecture.md, docs/api.md).

``search_data`` picks the cheapest mode that gives the exact answer:

1. ``trigram``: ``index.parquet`` and ``index_trigrams.parquet`` are current and the keyword has at
   least 3 characters — only the index row groups whose trigram postings hold every trigram of
   the keyword are read;
2. ``index``: ``index.parquet`` is current — its ``_searchable`` column is matched;
3. ``scan``: otherwise — the data chunks are read and their text built on the fly.

Results (``total`` and ``refs``) are identical in every mode. Search only reads (through the
``ArtifactStore`` it is given) and answers, or raises ``DeadlineExceeded`` when the time runs out;
what to do then (queue an index build, the Retry-After) is the caller's decision
(``phases.service``). pyarrow is imported only when a search runs, so importing this package stays
cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from etl_artifacts.s3.artifact_store import ArtifactStore
    from etl_artifacts.s3.attempts import AttemptObjects

SearchMode = Literal["index", "scan", "trigram"]


@dataclass(frozen=True)
class SearchResult:
    mode: SearchMode
    total: int  # exact number of matching rows in the attempt
    refs: list[tuple[int, int]]  # (chunk NNN, row within chunk) of the page's rows, in row order


def search_data(
    store: ArtifactStore, attempt: AttemptObjects, keyword: str, offset: int, limit: int
) -> SearchResult:
    """Rows of the attempt whose searchable text contains ``keyword`` (case-insensitive, literal).

    ``offset``/``limit`` select the page among the matches (in row order). S3 failures and
    unreadable parquet raise ``StorageError``; no time left, ``DeadlineExceeded``.
    """
    from etl_artifacts.search import engine
    from etl_artifacts.search.text import normalize_keyword

    needle = normalize_keyword(keyword)
    index_metadata = engine.current_index(store, attempt)
    if index_metadata is not None and attempt.index is not None:
        candidates = engine.trigram_candidates(store, attempt, index_metadata, needle)
        if candidates is not None:
            total, refs = engine.index_search(
                store, attempt.index, needle, offset, limit, row_groups=candidates
            )
            return SearchResult("trigram", total, refs)
        total, refs = engine.index_search(store, attempt.index, needle, offset, limit)
        return SearchResult("index", total, refs)
    from etl_artifacts.ratelimit.tenant_gate import scan_lease

    # A scan reads every data chunk: one of the tenant's few concurrent scans (docs/limits.md).
    with scan_lease():
        total, refs = engine.scan(store, attempt, needle, offset, limit)
    return SearchResult("scan", total, refs)


def has_current_index(store: ArtifactStore, attempt: AttemptObjects) -> bool:
    """True when ``index.parquet`` was built from the data chunks listed now (a search then never
    scans). Reads the index's footer (kept in the store's cache once a search has read it)."""
    from etl_artifacts.search import engine

    return engine.current_index(store, attempt) is not None


def lists_index_files(attempt: AttemptObjects) -> bool:
    """True when the listing names both index files (a listing kept from before the indexer wrote
    them should not serve a search)."""
    from etl_artifacts.search.index_format import TRIGRAM_FILE

    return attempt.index is not None and TRIGRAM_FILE in attempt.extra


__all__ = ["SearchMode", "SearchResult", "has_current_index", "lists_index_files", "search_data"]
