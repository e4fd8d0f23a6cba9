"""Phases routes over data, errors and metadata: pages numbered across chunks, reading only the row
groups a page needs, 404/422/502 answers, tenant isolation and gzip (moto's S3 server over HTTP,
pyarrow's own S3 client, the local gateway with real JWTs)."""

from __future__ import annotations

import gzip

import pytest
import requests
from etl_artifacts.s3.artifact_store import reset_store
from etl_artifacts.s3.layout import chunk_file, single_file
from phases_helpers import (
    data_table,
    errors_table,
    new_run,
    parquet_bytes,
    phase_path,
    put_bytes,
    put_chunks,
    put_metadata,
    put_table,
    run_path,
    spy_row_groups,
    use_counting_store,
)

MAX_INT32 = 2_147_483_647


@pytest.fixture
def two_chunks(api):
    """400 rows: data_000 holds ids 0..249 (row groups 100/100/50), data_001 ids 250..399 (100/50)."""
    run = new_run()
    put_metadata(run, rows=400, chunks=2)
    put_chunks(run, "data", [data_table(0, 250), data_table(250, 150)], row_group_size=100)
    return run


def ids(response: requests.Response) -> list[int]:
    return [row["id"] for row in response.json()["rows"]]


# -- pages -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("page", "limit", "expected", "has_more"),
    [
        (0, 50, range(0, 50), True),
        (1, 100, range(100, 200), True),  # exactly one row group
        (2, 100, range(200, 300), True),  # the last row group of data_000 + the first of data_001
        (5, 50, range(250, 300), True),  # starts exactly at the chunk boundary
        (3, 60, range(180, 240), True),  # straddles a row-group boundary inside a chunk
        (3, 100, range(300, 400), False),  # the last full page
        (0, 1000, range(0, 400), False),  # every row group of every chunk
        (4, 100, range(0), False),  # just past the end
        (MAX_INT32, 1000, range(0), False),  # far past the end: an empty page, not an error
    ],
)
def test_pages_are_numbered_across_chunks(api, two_chunks, page, limit, expected, has_more):
    response = api.get(phase_path(two_chunks, suffix="/data"), params={"page": page, "limit": limit})
    assert response.status_code == 200, response.text
    body = response.json()
    assert ids(response) == list(expected)
    assert body["total_rows"] == 400
    assert body["page"] == page and body["limit"] == limit
    assert body["has_more"] is has_more
    assert body["columns"] == [{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]
    assert "X-Search-Mode" not in response.headers


def test_defaults_are_page_0_limit_50(api, two_chunks):
    body = api.get(phase_path(two_chunks, suffix="/data")).json()
    assert (body["page"], body["limit"], len(body["rows"])) == (0, 50, 50)
    assert body["rows"][0] == {"id": 0, "name": "row-0"}


def test_chunks_are_ordered_numerically_and_schemas_are_unified(api):
    run = new_run()
    put_metadata(run)
    # data_1000 comes after data_002; a later chunk with a wider type and an extra column.
    put_table(run, chunk_file("extract", 1, "data", 2), data_table(0, 3))
    wider = data_table(3, 2).append_column("extra", [["x", "y"]][0])
    put_table(run, chunk_file("extract", 1, "data", 1000), wider)
    body = api.get(phase_path(run, suffix="/data")).json()
    assert [row["id"] for row in body["rows"]] == [0, 1, 2, 3, 4]
    assert body["columns"][-1] == {"name": "extra", "type": "string"}
    assert [row["extra"] for row in body["rows"]] == [None, None, None, "x", "y"]


def test_deep_page_reads_only_the_row_groups_it_needs(api, monkeypatch):
    """Page at row 2,500 of 3,000 (3 chunks x 4 row groups): one row group read, as for page 0."""
    run = new_run()
    put_metadata(run)
    sizes = put_chunks(run, "data", [data_table(i * 1000, 1000) for i in range(3)], row_group_size=250)
    counting = use_counting_store()

    url = phase_path(run, suffix="/data")
    assert api.get(url, params={"page": 0, "limit": 50}).status_code == 200  # warms the footers
    cold_bytes = counting.counter.take()

    with spy_row_groups(monkeypatch) as spy:
        first = api.get(url, params={"page": 0, "limit": 50})
    first_bytes = counting.counter.take()
    assert spy.groups() == [(0, [0])]

    with spy_row_groups(monkeypatch) as spy:
        deep = api.get(url, params={"page": 50, "limit": 50})
    deep_bytes = counting.counter.take()
    assert deep.status_code == 200
    assert ids(deep) == list(range(2500, 2550))
    assert spy.groups() == [(2, [2])]  # data_002, its third row group: nothing else
    assert ids(first) == list(range(50))

    # Same cost as page 0 (footers cached), a small part of the data, less than the cold read.
    assert first_bytes > 0 and deep_bytes > 0
    assert deep_bytes <= first_bytes * 1.5
    assert deep_bytes * 6 < sum(sizes)
    assert first_bytes < cold_bytes


def test_footers_are_cached_by_key_etag_and_size(api):
    run = new_run()
    put_metadata(run)
    put_chunks(run, "data", [data_table(0, 10)])
    url = phase_path(run, suffix="/data")
    assert ids(api.get(url)) == list(range(10))
    # Rewritten object: new ETag/size, so the old footer is never used for it.
    put_chunks(run, "data", [data_table(100, 30)], row_group_size=7)
    body = api.get(url).json()
    assert body["total_rows"] == 30
    assert [row["id"] for row in body["rows"]] == list(range(100, 130))


def test_errors_pages(api):
    run = new_run()
    put_metadata(run)
    put_chunks(run, "errors", [errors_table(0, 5), errors_table(5, 5)], row_group_size=2)
    response = api.get(phase_path(run, suffix="/errors"), params={"page": 1, "limit": 4})
    assert response.status_code == 200
    body = response.json()
    assert [row["row_ref"] for row in body["rows"]] == ["4", "5", "6", "7"]
    assert body["total_rows"] == 10 and body["has_more"] is True
    assert body["rows"][0]["occurred_at"] == "2026-11-20T00:00:00+00:00"
    assert body["rows"][0]["traceback"] is None
    assert {"name": "error_status", "type": "int32"} in body["columns"]


def test_attempt_without_error_or_log_chunks_is_an_empty_page(api):
    run = new_run()
    put_metadata(run)
    for kind in ("errors", "logs", "data"):
        response = api.get(phase_path(run, suffix=f"/{kind}"))
        assert response.status_code == 200, kind
        assert response.json() == {
            "columns": [],
            "rows": [],
            "page": 0,
            "limit": 50,
            "total_rows": 0,
            "has_more": False,
        }


def test_metadata_is_a_one_row_page(api):
    run = new_run()
    put_metadata(run, "transform", 2, rows=1234, chunks=3)
    response = api.get(phase_path(run, "transform"), params={"attempt": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["total_rows"] == 1 and body["has_more"] is False
    row = body["rows"][0]
    assert row["phase"] == "transform" and row["attempt"] == 2 and row["row_count"] == 1234
    assert row["started_at"] == "2026-11-20T10:15:30.123456+00:00"
    assert row["finished_at"] is None
    assert row["extra_column"] == "passed through"
    assert {"name": "started_at", "type": "timestamp[us, tz=UTC]"} in body["columns"]


def test_metadata_missing_is_phase_not_found_even_with_data(api):
    run = new_run()
    put_chunks(run, "data", [data_table(0, 3)])
    response = api.get(phase_path(run))
    assert response.status_code == 404
    assert response.json()["code"] == "phase_not_found"
    # Data without metadata still exists for the data route (docs/api.md).
    assert ids(api.get(phase_path(run, suffix="/data"))) == [0, 1, 2]


@pytest.mark.parametrize("suffix", ["", "/data", "/errors", "/logs"])
def test_missing_attempt_is_phase_not_found(api, two_chunks, suffix):
    response = api.get(phase_path(two_chunks, suffix=suffix), params={"attempt": 2})
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "phase_not_found" and body["status"] == 404 and body["request_id"]
    other_phase = api.get(phase_path(two_chunks, "load", suffix))
    assert other_phase.status_code == 404


def test_other_tenant_sees_nothing(api, two_chunks):
    for suffix in ("", "/data", "/errors", "/logs"):
        response = api.get(phase_path(two_chunks, suffix=suffix), company="globex")
        assert response.status_code == 404
        assert response.json()["code"] == "phase_not_found"
    assert api.get(run_path(two_chunks, "/event"), company="globex").status_code == 404


@pytest.mark.parametrize(
    ("suffix", "params"),
    [
        ("/data", {"page": -1}),
        ("/data", {"page": MAX_INT32 + 1}),
        ("/data", {"limit": 0}),
        ("/data", {"limit": 1001}),
        ("/data", {"attempt": 0}),
        ("/data", {"attempt": "x"}),
        ("/data", {"keyword": ""}),
        ("/data", {"keyword": "k" * 201}),
        ("/data", {"keyword": "a\x1fb"}),
        ("/data", {"keyword": "tab\there"}),
        ("/logs", {"level": "TRACE"}),
        ("/logs", {"keyword": ""}),
        ("/errors", {"limit": 5000}),
        ("", {"attempt": -3}),
    ],
)
def test_invalid_parameters_are_422(api, two_chunks, suffix, params):
    response = api.get(phase_path(two_chunks, suffix=suffix), params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail[0]["loc"][0] == "query"


@pytest.mark.parametrize("phase", ["event", "bogus", "EXTRACT"])
def test_unknown_phase_is_422(api, two_chunks, phase):
    response = api.get(phase_path(two_chunks, phase, "/data"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "phase"]


def test_bad_run_id_and_token_checks(api, two_chunks):
    base = f"/api/v1/dags/{two_chunks.dag_id}/runs/2026-11-20"
    assert api.get(f"{base}/bad%20id/phases/extract/data").status_code == 422
    assert api.get("/api/v1/dags/not-a-uuid/runs/2026-11-20/x/phases/extract/data").status_code == 422
    # Authorization runs first: a bad token is 401 whatever the parameters.
    assert api.get(phase_path(two_chunks, "bogus", "/data"), token="nope").status_code == 401


# -- compression -----------------------------------------------------------------------------
def test_gzip_when_accepted(api, two_chunks):
    url = phase_path(two_chunks, suffix="/data")
    zipped = api.get(url, params={"limit": 1000}, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    raw = zipped.raw.read(decode_content=False)
    assert gzip.decompress(raw).startswith(b"{")
    plain = api.get(url, params={"limit": 1000}, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert len(raw) < len(plain.content)
    assert plain.json()["rows"][-1] == {"id": 399, "name": "row-399"}


# -- failures --------------------------------------------------------------------------------
def test_corrupt_parquet_is_502(api, caplog):
    run = new_run()
    put_metadata(run)
    put_bytes(run, chunk_file("extract", 1, "data", 0), b"PAR1 this is not parquet PAR1")
    response = api.get(phase_path(run, suffix="/data"))
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "storage_error" and body["status"] == 502
    assert "test-artifacts" not in response.text and run.run_id not in response.text
    assert "test-artifacts" not in caplog.text


def test_truncated_parquet_is_502(api):
    run = new_run()
    put_metadata(run)
    good = parquet_bytes(data_table(0, 1000), row_group_size=100)
    # Footer intact, row data damaged: the footer reads, the row group does not.
    damaged = good[:4] + bytes(len(good) // 2) + good[4 + len(good) // 2 :]
    put_bytes(run, chunk_file("extract", 1, "data", 0), damaged)
    response = api.get(phase_path(run, suffix="/data"))
    assert response.status_code == 502
    assert response.json()["code"] == "storage_error"


def test_corrupt_metadata_is_502(api):
    run = new_run()
    put_bytes(run, single_file("extract", 1, "metadata"), b"not parquet at all")
    response = api.get(phase_path(run))
    assert response.status_code == 502
    assert response.json()["code"] == "storage_error"


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    "suffix", ["/phases/extract", "/phases/extract/data", "/phases/extract/logs", "/event"]
)
def test_s3_down_is_502(api, two_chunks, monkeypatch, suffix):
    from etl_artifacts.clients import reset_clients
    from etl_artifacts.config import get_settings
    from etl_artifacts_local.services import free_port

    reset_store()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("S3_CONNECT_TIMEOUT_S", "0.5")
    monkeypatch.setenv("S3_REQUEST_TIMEOUT_S", "1")
    get_settings.cache_clear()
    reset_clients()
    response = api.get(run_path(two_chunks, suffix))
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "storage_error"
    assert "127.0.0.1" not in response.text and "test-artifacts" not in response.text
