"""What a warm data page or search asks of S3: a completed attempt's kept listing is answered from
at once and validated by one LIST alongside (its depth is measured by bench/bench_s3model.py),
a running attempt is listed before anything else, a search lists again until the index files are
there, and a warm search whose keyword has no trigram postings makes that one LIST only. Counted
on the wire, through the recording S3 proxy."""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow as pa
import pytest
from etl_artifacts_local.s3_proxy import S3Proxy
from phases_helpers import new_run, phase_path, put_chunks, put_metadata
from security_helpers import clear_storage_caches


def _chunk(start: int, count: int) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"Needle-{i}" if i % 97 == 0 else f"hay {i}" for i in ids],
            "day": pa.array([dt.date(2026, 1, 1) + dt.timedelta(days=i % 3) for i in ids]),
        }
    )


def _build_index(run) -> None:
    from etl_artifacts.config import get_settings
    from etl_artifacts.indexing.builder import index_attempt
    from etl_artifacts.s3.layout import AttemptLocation

    settings = get_settings()
    index_attempt(settings.artifacts_bucket, AttemptLocation(settings.artifacts_prefix, run, "extract", 1))


def test_warm_page_of_a_completed_attempt_reads_its_row_group_beside_one_list(
    api, via_proxy: S3Proxy
) -> None:
    # Given a completed attempt (metadata.parquet present) whose page was served once
    run = new_run()
    put_metadata(run)
    put_chunks(run, "data", [_chunk(0, 300), _chunk(300, 300)], row_group_size=100)
    url = phase_path(run, suffix="/data")
    assert api.get(url, params={"page": 3, "limit": 50}).status_code == 200

    # When another page is asked for
    via_proxy.clear()
    response = api.get(url, params={"page": 8, "limit": 50})

    # Then it costs the page's row group and the LIST that validates the kept listing: no footer
    assert [row["id"] for row in response.json()["rows"]][:1] == [400]
    traffic = via_proxy.traffic()
    assert (traffic.lists, traffic.gets) == (1, 1)


def test_running_attempt_is_listed_every_time(api, via_proxy: S3Proxy) -> None:
    # Given an attempt still running (no metadata.parquet): chunks may still be added
    run = new_run()
    put_chunks(run, "data", [_chunk(0, 100)])
    url = phase_path(run, suffix="/data")
    assert api.get(url).json()["total_rows"] == 100

    # When a chunk is added and the page asked for again, then the new chunk is seen at once
    put_chunks(run, "data", [_chunk(0, 100), _chunk(100, 50)])
    via_proxy.clear()
    assert api.get(url).json()["total_rows"] == 150
    assert via_proxy.traffic().lists == 1


def test_search_lists_again_until_the_index_files_are_there(api, via_proxy: S3Proxy) -> None:
    # Given a completed attempt whose listing is cached before it was indexed
    run = new_run()
    put_metadata(run)
    put_chunks(run, "data", [_chunk(0, 500), _chunk(500, 500)], row_group_size=100)
    url = phase_path(run, suffix="/data")
    assert api.get(url).status_code == 200
    _build_index(run)

    # When a keyword is searched, then the index written since is used
    response = api.get(url, params={"keyword": "needle-1", "limit": 1000})
    assert response.headers["X-Search-Mode"] == "trigram"
    assert response.json()["total_rows"] == 1  # Needle-194


def test_warm_search_without_postings_makes_only_the_validating_list(api, via_proxy: S3Proxy) -> None:
    # Given an indexed attempt searched once (listing, footers and trigram postings are warm)
    run = new_run()
    put_metadata(run)
    put_chunks(run, "data", [_chunk(0, 500), _chunk(500, 500)], row_group_size=100)
    _build_index(run)
    url = phase_path(run, suffix="/data")
    assert api.get(url, params={"keyword": "needle-9"}).headers["X-Search-Mode"] == "trigram"

    # When a keyword whose trigrams occur nowhere is searched
    via_proxy.clear()
    response = api.get(url, params={"keyword": "xqzjv"})

    # Then the answer (no rows) costs the one LIST that validates the kept listing, nothing else
    assert response.headers["X-Search-Mode"] == "trigram"
    assert response.json()["total_rows"] == 0
    traffic = via_proxy.traffic()
    assert (traffic.requests, traffic.lists) == (1, 1)


@pytest.mark.parametrize("keyword", ["needle-2", "hay 4", "needle"])
def test_cached_postings_give_the_answers_of_a_scan(api, via_proxy: S3Proxy, keyword: str) -> None:
    # Given an attempt searched by scan, then indexed and searched once (postings cached)
    run = new_run()
    put_metadata(run)
    put_chunks(run, "data", [_chunk(0, 500), _chunk(500, 500)], row_group_size=100)
    url = phase_path(run, suffix="/data")
    params = {"keyword": keyword, "limit": 1000}
    scanned = api.get(url, params=params)
    assert scanned.headers["X-Search-Mode"] == "scan"
    _build_index(run)
    api.get(url, params={"keyword": "needle-9"})

    # When the keyword is searched again, then the answer is the scan's
    indexed = api.get(url, params=params)
    assert indexed.headers["X-Search-Mode"] == "trigram"
    assert indexed.json() == scanned.json()


@pytest.mark.parametrize("footers", ["fetched", "from the layout file"])
def test_warm_search_reads_the_pages_row_groups_in_one_round_trip(
    api, via_proxy: S3Proxy, footers: str
) -> None:
    # Given an indexed, completed attempt searched once, whose matches sit in row groups apart
    # from each other in each chunk (rows 0, 97, 194, ... of 50-row groups)
    run = new_run()
    put_metadata(run)
    chunks = [_chunk(start, 500) for start in (0, 500)]
    # Row groups far apart in the file (hex text that does not compress), and a column of few
    # values (dictionary-encoded, read as a dictionary: parquet/decoded.py)
    pad = ["".join(hashlib.sha256(f"{i}.{k}".encode()).hexdigest() for k in range(8)) for i in range(500)]
    chunks = [
        chunk.append_column("pad", pa.array(pad)).append_column("status", pa.array(["ok", "late"] * 250))
        for chunk in chunks
    ]
    put_chunks(run, "data", chunks, row_group_size=50)
    url = phase_path(run, suffix="/data")
    params = {"keyword": "needle", "limit": 1000}
    # (scanned before the index existed: the footers kept are the ones fetched from the chunks)
    assert api.get(url, params=params).headers["X-Search-Mode"] == "scan"
    _build_index(run)
    if footers == "from the layout file":
        # (a new instance: its first read seeds the footers from the layout file)
        clear_storage_caches()
    assert api.get(url, params=params).headers["X-Search-Mode"] == "trigram"

    # When it is searched again, each request waiting long enough that concurrent ones overlap
    via_proxy.clear()
    via_proxy.latency_s = 0.5
    try:
        response = api.get(url, params=params)
    finally:
        via_proxy.latency_s = 0.0

    # Then the page is right and costs two round trips: the index row groups (beside the LIST),
    # then every row group holding a row of the page at once (ten reads: more than pyarrow's
    # default I/O threads)
    assert [row["id"] for row in response.json()["rows"]] == list(range(0, 1000, 97))
    assert via_proxy.traffic().depth == 2
