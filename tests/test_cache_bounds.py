"""Every warm-function cache of the Phases function is bounded by bytes: the
footers and the logs' matching row numbers, whatever the files and the filters hold."""

from __future__ import annotations

import pyarrow as pa
import pytest
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.parquet import footer_cache
from etl_artifacts.parquet.chunkset import ChunkSet
from etl_artifacts.phases import logs
from etl_artifacts.s3.artifact_store import ArtifactStore, artifact_store
from etl_artifacts.s3.attempts import list_attempt
from phases_helpers import logs_table, new_run, put_chunks, put_metadata

pytestmark = pytest.mark.usefixtures("base_env")


def _wide_table(columns: int, rows: int) -> pa.Table:
    return pa.table({f"c{i}": pa.array(range(rows), pa.int64()) for i in range(columns)})


def test_footer_cache_holds_at_most_its_bytes_and_keeps_the_most_recent() -> None:
    # Given wide chunks whose footers weigh ~100 KB each in memory, and a cache of 400 KB
    run = new_run()
    put_chunks(run, "data", [_wide_table(20, 100) for _ in range(8)], row_group_size=10)
    objects = list_attempt(artifact_store(), run, "extract", 1).data
    store = artifact_store()
    cache = footer_cache.FooterCache(store.filesystem, store.bucket, max_bytes=400_000)
    one = cache.get(objects[0]).memory_bytes
    assert 50_000 < one < 400_000
    # When every footer is read
    footers = cache.get_many(objects)
    # Then all were answered, but the cache kept only what fits (the ones read last)
    assert [f.obj.key for f in footers] == [o.key for o in objects]
    assert cache.bytes <= 400_000 and len(cache) == 400_000 // one
    assert sum(cache.cached(obj) is not None for obj in objects) == len(cache)
    evicted = next(obj for obj in objects if cache.cached(obj) is None)
    cache.get(evicted)  # read again: now the most recent, kept
    assert cache.cached(evicted) is not None and cache.bytes <= 400_000


def test_logs_matches_beyond_the_budget_are_not_kept_and_pages_stay_right() -> None:
    run = new_run()
    put_metadata(run)
    put_chunks(run, "logs", [logs_table([f"needle {i}" for i in range(3000)])], row_group_size=500)
    # Given a store whose budget is smaller than 3,000 row numbers (8 bytes each)
    store = ArtifactStore(get_settings(), s3_client(), match_bytes=16_000)
    chunks = ChunkSet(store, list_attempt(store, run, "extract", 1).chunks["logs"])
    flt = logs.LogFilter(keyword="needle")
    first = logs.matching_log_rows(chunks, flt)
    # Then the matches are answered but not kept
    assert len(first[0]) == 3000 and len(store.matches) == 0
    # And a filter whose matches fit is kept, within the budget
    few = logs.LogFilter(keyword="needle 12")
    assert len(logs.matching_log_rows(chunks, few)[0]) == 111  # 12, 120-129, 1200-1299
    assert len(store.matches) == 1 and store.matches.bytes <= 16_000
