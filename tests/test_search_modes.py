"""scan, index and trigram modes give identical answers (hypothesis over random data and keywords),
and so do pages and searches read with the footers of the layout file,
and each falls back as documented: stale, foreign or old-format acceleration files, short keywords,
wrong-schema and corrupt index files."""

from __future__ import annotations

import copy
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from etl_artifacts.config import get_settings
from etl_artifacts.errors import StorageError
from etl_artifacts.indexing.builder import index_attempt
from etl_artifacts.parquet.layout_file import LAYOUT_FILE, fetch_layout, seed_footers
from etl_artifacts.phases.pages import page_of
from etl_artifacts.s3.artifact_store import artifact_store
from etl_artifacts.s3.attempts import AttemptObjects, list_attempt
from etl_artifacts.s3.layout import parse_metadata_key
from etl_artifacts.search import SearchResult, search_data
from etl_artifacts.search.index_format import TRIGRAM_FILE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_helpers import (
    KINDS,
    attempt_prefix,
    column_of_kind,
    metadata_key,
    new_run,
    parquet_bytes,
    put_object,
    reference_search,
    reference_texts,
    write_attempt,
)

pytestmark = pytest.mark.usefixtures("base_env")


def index(run: object, row_group_rows: int = 4) -> AttemptObjects:
    location = parse_metadata_key(metadata_key(run), get_settings().artifacts_prefix)  # type: ignore[arg-type]
    assert location is not None
    index_attempt(get_settings().artifacts_bucket, location, row_group_rows=row_group_rows)
    return list_attempt(artifact_store(), run, "extract", 1)  # type: ignore[arg-type]


def search_listed(run: object, keyword: str) -> SearchResult:
    """The first five matches of ``keyword`` in the attempt as listed now."""
    store = artifact_store()
    return search_data(store, list_attempt(store, run, "extract", 1), keyword, 0, 5)  # type: ignore[arg-type]


def without_trigrams(attempt: AttemptObjects) -> AttemptObjects:
    copied = copy.deepcopy(attempt)
    copied.extra.pop(TRIGRAM_FILE, None)
    return copied


def without_index(attempt: AttemptObjects) -> AttemptObjects:
    copied = without_trigrams(attempt)
    copied.index = None
    return copied


def all_modes(attempt: AttemptObjects, keyword: str, offset: int, limit: int) -> dict[str, SearchResult]:
    return {
        "scan": search_data(artifact_store(), without_index(attempt), keyword, offset, limit),
        "index": search_data(artifact_store(), without_trigrams(attempt), keyword, offset, limit),
        "full": search_data(artifact_store(), attempt, keyword, offset, limit),
    }


@st.composite
def attempts_and_keywords(draw: st.DrawFn) -> tuple[list[pa.Table], list[tuple[str, int, int]]]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4))
    tables = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 9))
        tables.append(pa.table({f"c{i}": column_of_kind(draw, kind, n) for i, kind in enumerate(kinds)}))
    texts = [text for _, _, text in reference_texts(tables) if text]
    keyword = st.text(alphabet="ab1-.:é É\x1f", min_size=1, max_size=5)
    if texts:
        # Substrings of real rows (so there are matches), upper-cased sometimes.
        substring = st.sampled_from(texts).flatmap(
            lambda t: st.tuples(st.integers(0, len(t) - 1), st.integers(1, 8)).map(
                lambda p: t[p[0] : p[0] + p[1]]
            )
        )
        keyword = st.one_of(keyword, substring, substring.map(str.upper))
    queries = draw(st.lists(st.tuples(keyword, st.integers(0, 6), st.integers(1, 5)), min_size=1, max_size=4))
    return tables, queries


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(attempts_and_keywords())
def test_every_mode_gives_the_reference_answer(
    case: tuple[list[pa.Table], list[tuple[str, int, int]]],
) -> None:
    tables, queries = case
    run = new_run()
    write_attempt(run, tables, row_group_size=3)
    attempt = index(run, row_group_rows=4)
    for keyword, offset, limit in queries:
        expected = reference_search(tables, keyword)
        results = all_modes(attempt, keyword, offset, limit)
        assert results["scan"].mode == "scan" and results["index"].mode == "index"
        for result in results.values():
            assert (result.total, result.refs) == (len(expected), expected[offset : offset + limit])
        # Footers from the layout file give the same pages and the same matches as fetched ones
        page = offset // limit
        fetched = page_of(artifact_store(), attempt.data, page=page, limit=limit).body()
        with_layout_footers(attempt)
        assert page_of(artifact_store(), attempt.data, page=page, limit=limit).body() == fetched
        result = search_data(artifact_store(), attempt, keyword, offset, limit)
        assert (result.total, result.refs) == (len(expected), expected[offset : offset + limit])
        artifact_store().footers.clear()


def with_layout_footers(attempt: AttemptObjects) -> None:
    """Forget every cached footer, then keep the data chunks' footers from the layout file."""
    store = artifact_store()
    store.footers.clear()
    records = fetch_layout(store.s3, attempt.bucket, attempt.prefix + LAYOUT_FILE)
    assert records is not None
    assert seed_footers(store, attempt.data, records) == bool(attempt.data)


def needle_tables() -> list[pa.Table]:
    rows = 60
    names = [f"customer {i:03d} of Lisboa" for i in range(rows)]
    names[17] = "ORDER-XK42-7781 for Porto"
    names[45] = "order-xk42-7781 again"
    return [
        pa.table({"id": pa.array(range(0, 30), pa.int64()), "name": names[:30]}),
        pa.table({"id": pa.array(range(30, 60), pa.int64()), "name": names[30:]}),
    ]


def test_trigram_mode_reads_only_candidate_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    from etl_artifacts.parquet import chunkset

    tables = needle_tables()
    run = new_run()
    write_attempt(run, tables, row_group_size=10)
    attempt = index(run, row_group_rows=10)  # 6 index row groups
    reads: list[tuple[str, tuple[int, ...]]] = []
    original = chunkset.read_row_groups

    def counting(footer, row_groups, columns=None):  # type: ignore[no-untyped-def]
        reads.append((footer.obj.key.rsplit("/", 1)[-1], tuple(row_groups)))
        return original(footer, row_groups, columns)

    monkeypatch.setattr(chunkset, "read_row_groups", counting)
    result = search_data(artifact_store(), attempt, "Xk42-7781", 0, 10)
    assert (result.mode, result.total, result.refs) == ("trigram", 2, [(0, 17), (1, 15)])
    index_reads = [groups for name, groups in reads if name == "index.parquet"]
    # Row groups 1 (rows 10-19) and 4 (rows 40-49) only: _searchable, then chunk/row of the page.
    assert sorted({g for groups in index_reads for g in groups}) == [1, 4]

    reads.clear()
    assert search_data(artifact_store(), attempt, "no such needle", 0, 10).total == 0
    assert not [groups for name, groups in reads if name == "index.parquet"]


def test_short_keywords_and_separator_fall_back_to_index_mode() -> None:
    run = new_run()
    write_attempt(run, needle_tables())
    attempt = index(run)
    assert search_data(artifact_store(), attempt, "42", 0, 5).mode == "index"
    assert search_data(artifact_store(), attempt, "po\x1f", 0, 5).mode == "index"
    assert search_data(artifact_store(), attempt, "por", 0, 5).mode == "trigram"


def test_a_rewritten_chunk_makes_the_index_stale_so_search_scans() -> None:
    tables = needle_tables()
    run = new_run()
    write_attempt(run, tables)
    index(run)
    changed = tables[1].set_column(1, "name", pa.array(["fresh needle"] * 30))
    put_object(attempt_prefix(run) + "data_001.parquet", parquet_bytes(changed))
    attempt = list_attempt(artifact_store(), run, "extract", 1)
    result = search_data(artifact_store(), attempt, "fresh needle", 0, 3)
    assert (result.mode, result.total, result.refs) == ("scan", 30, [(1, 0), (1, 1), (1, 2)])
    assert search_data(artifact_store(), attempt, "xk42", 0, 5).total == 1  # the old row 45 is gone


def test_an_added_chunk_makes_the_index_stale() -> None:
    tables = needle_tables()
    run = new_run()
    write_attempt(run, tables)
    index(run)
    put_object(attempt_prefix(run) + "data_002.parquet", parquet_bytes(tables[0]))
    result = search_listed(run, "xk42")
    assert (result.mode, result.refs) == ("scan", [(0, 17), (1, 15), (2, 17)])


def rewrite_metadata(key: str, updates: dict[bytes, bytes]) -> None:
    from etl_artifacts.clients import s3_client

    body = s3_client().get_object(Bucket=get_settings().artifacts_bucket, Key=key)["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **updates})
    put_object(key, parquet_bytes(table))


def test_trigram_files_of_another_format_or_stale_are_not_used() -> None:
    run = new_run()
    write_attempt(run, needle_tables())
    index(run)
    rewrite_metadata(attempt_prefix(run) + TRIGRAM_FILE, {b"etl_artifacts.trigram_format": b"0"})
    assert search_listed(run, "xk42").mode == "index"
    index(run)
    rewrite_metadata(attempt_prefix(run) + TRIGRAM_FILE, {b"etl_artifacts.sources": b"[]"})
    assert search_listed(run, "xk42").mode == "index"
    index(run)
    rewrite_metadata(attempt_prefix(run) + TRIGRAM_FILE, {b"etl_artifacts.index_row_groups": b"999"})
    result = search_listed(run, "xk42")
    assert (result.mode, result.total) == ("index", 2)


def test_an_index_with_the_wrong_schema_is_ignored_and_search_scans() -> None:
    run = new_run()
    attempt = write_attempt(run, needle_tables())
    wrong = pa.table({"chunk": pa.array([0], pa.int32()), "text": ["xk42"]}).replace_schema_metadata(
        {b"etl_artifacts.sources": attempt.sources_json().encode()}
    )
    put_object(attempt_prefix(run) + "index.parquet", parquet_bytes(wrong))
    result = search_listed(run, "xk42")
    assert (result.mode, result.total) == ("scan", 2)


def test_a_corrupt_index_is_a_storage_error() -> None:
    run = new_run()
    write_attempt(run, needle_tables())
    put_object(attempt_prefix(run) + "index.parquet", b"PAR1 garbage PAR1")
    with pytest.raises(StorageError):
        search_listed(run, "xk42")


def test_a_corrupt_data_chunk_is_a_storage_error_in_scan_mode() -> None:
    run = new_run()
    write_attempt(run, needle_tables())
    put_object(attempt_prefix(run) + "data_001.parquet", b"not parquet at all")
    with pytest.raises(StorageError):
        search_listed(run, "xk42")
