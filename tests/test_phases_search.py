"""The data route with ``keyword``: delegates to ``etl_artifacts.search.search_data``, fetches the
page's rows with ``ChunkSet.take`` and says how they were found in ``X-Search-Mode``. The
search engine's own deep tests live with it; these check the route's side of the API."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from etl_artifacts.parquet.chunkset import ChunkSet
from etl_artifacts.s3.artifact_store import artifact_store
from etl_artifacts.s3.attempts import list_attempt
from phases_helpers import new_run, phase_path, put_chunks, put_metadata, spy_row_groups

pytest.importorskip("etl_artifacts.search")


def _chunk(start: int, count: int) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"Needle-{i}" if i % 97 == 0 else f"hay {i}" for i in ids],
            "day": pa.array([dt.date(2026, 1, 1) + dt.timedelta(days=i % 3) for i in ids]),
        }
    )


@pytest.fixture
def searchable(api):
    run = new_run()
    put_metadata(run)
    put_chunks(run, "data", [_chunk(0, 500), _chunk(500, 500)], row_group_size=100)
    return run


def test_keyword_page_and_mode_header(api, searchable):
    response = api.get(phase_path(searchable, suffix="/data"), params={"keyword": "NEEDLE", "limit": 4})
    assert response.status_code == 200, response.text
    assert response.headers["X-Search-Mode"] in ("scan", "index", "trigram")
    body = response.json()
    expected = [i for i in range(1000) if i % 97 == 0]
    assert body["total_rows"] == len(expected)
    assert [row["id"] for row in body["rows"]] == expected[:4]
    assert body["has_more"] is True
    assert body["columns"] == [
        {"name": "id", "type": "int64"},
        {"name": "name", "type": "string"},
        {"name": "day", "type": "date32[day]"},
    ]
    last = api.get(
        phase_path(searchable, suffix="/data"), params={"keyword": "needle", "limit": 4, "page": 2}
    )
    assert [row["id"] for row in last.json()["rows"]] == expected[8:]
    assert last.json()["has_more"] is False


def test_keyword_matches_rendered_non_string_values(api, searchable):
    body = api.get(
        phase_path(searchable, suffix="/data"), params={"keyword": "2026-01-03", "limit": 1000}
    ).json()
    assert [row["id"] for row in body["rows"]] == [i for i in range(1000) if i % 3 == 2]
    body = api.get(phase_path(searchable, suffix="/data"), params={"keyword": "777"}).json()
    assert [row["id"] for row in body["rows"]] == [777]


def test_keyword_without_matches_is_an_empty_page_with_a_mode(api, searchable):
    response = api.get(phase_path(searchable, suffix="/data"), params={"keyword": "%_nothing_%"})
    assert response.status_code == 200
    assert response.json()["rows"] == [] and response.json()["total_rows"] == 0
    assert response.headers["X-Search-Mode"]


def test_read_rows_fetches_only_the_row_groups_holding_the_refs(api, searchable, monkeypatch):
    attempt = list_attempt(artifact_store(), searchable, "extract", 1)
    with spy_row_groups(monkeypatch) as spy:
        table = ChunkSet(artifact_store(), attempt.data).take([(1, 499), (0, 0), (1, 0), (0, 150), (0, 151)])
    assert table.column("id").to_pylist() == [999, 0, 500, 150, 151]
    # Only the groups holding the refs; neighbours read together, groups apart read each on its own
    assert sorted(spy.groups()) == [(0, [0, 1]), (1, [0]), (1, [4])]
    with pytest.raises(ValueError):
        ChunkSet(artifact_store(), attempt.data).take([(7, 0)])
    with pytest.raises(ValueError):
        ChunkSet(artifact_store(), attempt.data).take([(0, 500)])
    assert ChunkSet(artifact_store(), attempt.data).take([]).num_rows == 0


def test_index_and_scan_answer_alike(api, searchable):
    builder = pytest.importorskip("etl_artifacts.indexing.builder")
    from etl_artifacts.config import get_settings
    from etl_artifacts.s3.layout import AttemptLocation

    url = phase_path(searchable, suffix="/data")
    params = {"keyword": "needle-1", "limit": 1000}
    scan = api.get(url, params=params)
    assert scan.headers["X-Search-Mode"] == "scan"
    settings = get_settings()
    builder.index_attempt(
        settings.artifacts_bucket, AttemptLocation(settings.artifacts_prefix, searchable, "extract", 1)
    )
    indexed = api.get(url, params=params)
    assert indexed.headers["X-Search-Mode"] in ("index", "trigram")
    assert indexed.json() == scan.json()
    assert scan.json()["total_rows"] > 0
