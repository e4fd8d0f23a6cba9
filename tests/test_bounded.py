"""Bounded work (docs/limits.md), against moto's S3 server and the local gateway:

- every loop over rows, row groups, chunks and index entries stops at the deadline (503), and a
  tiny nested file no longer holds a worker past its timeout (``serve --timeout``: 503, not 500);
- a decompression bomb (1 KB that decodes to 256 MiB) is 422 ``too_expensive`` on the API and a
  logged, not retried, failure in the indexer;
- an index build is queued once per attempt and window, and the indexer skips a current index;
- a kept listing never gives another answer than a fresh LIST.
"""

from __future__ import annotations

import io
import os
import random
import string
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from etl_artifacts.config import get_settings
from etl_artifacts.deadline import invocation_deadline
from etl_artifacts.errors import DeadlineExceeded
from etl_artifacts.s3.artifact_store import artifact_store, reset_store
from etl_artifacts.s3.layout import AttemptLocation, RunRef, single_file
from etl_artifacts_local.hostile_parquet import bomb_parquet, nested_parquet
from phases_helpers import logs_table, new_run, phase_path, put_bytes, put_chunks, put_metadata, run_path
from serve_helpers import serving

pytestmark = pytest.mark.usefixtures("base_env")

CLI = Path(sys.executable).with_name("etl-artifacts")


class _NoTimeLeft:
    """A Lambda context whose function is about to time out."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 500


def _location(run: RunRef) -> AttemptLocation:
    return AttemptLocation(get_settings().artifacts_prefix, run, "extract", 1)


def _index(run: RunRef) -> Any:
    from etl_artifacts.indexing.builder import index_attempt

    return index_attempt(get_settings().artifacts_bucket, _location(run))


def _objects(run: RunRef) -> Any:
    from etl_artifacts.s3.attempts import list_attempt

    return list_attempt(artifact_store(), run, "extract", 1)


def _words(count: int, needle_every: int = 50) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(count), pa.int64()),
            "word": [f"needle {i}" if i % needle_every == 0 else f"hay {i}" for i in range(count)],
        }
    )


# -- the deadline in every loop ------------------------------------------------------------------


def _search(indexed: bool) -> Callable[[], Any]:
    from etl_artifacts.search import search_data

    run = new_run()
    put_chunks(run, "data", [_words(400), _words(400)], row_group_size=100)
    put_metadata(run, rows=800, chunks=2)
    if indexed:
        _index(run)
    objects = _objects(run)
    return lambda: search_data(artifact_store(), objects, "needle" if indexed else "hay", 0, 10)


def _logs(level: str | None, keyword: str | None) -> Callable[[], Any]:
    from etl_artifacts.phases.service import logs_page

    run = new_run()
    messages = [f"line {i}" for i in range(300)]
    put_chunks(run, "logs", [logs_table(messages), logs_table(messages)], row_group_size=50)
    put_metadata(run)

    def page() -> Any:
        artifact_store().matches.clear()  # the matching rows are kept while warm: filter again
        return logs_page(run, "extract", 1, page=0, limit=10, level=level, keyword=keyword)

    return page


def _ndjson() -> Callable[[], Any]:
    from etl_artifacts.phases.service import logs_ndjson

    run = new_run()
    put_chunks(run, "logs", [logs_table([f"line {i}" for i in range(300)])], row_group_size=50)
    put_metadata(run)
    return lambda: logs_ndjson(
        run, "extract", 1, level=None, keyword=None, continuation_token=None, max_bytes=1_000_000
    )


def _build() -> Callable[[], Any]:
    run = new_run()
    put_chunks(run, "data", [_words(400)], row_group_size=100)
    put_metadata(run, rows=400, chunks=1)
    objects = _objects(run)

    def build() -> Any:
        from etl_artifacts.indexing.builder import build_index

        with tempfile.TemporaryDirectory() as workdir:
            return build_index(objects, Path(workdir))

    return build


LOOPS: dict[str, Callable[[], Callable[[], Any]]] = {
    "scan": lambda: _search(indexed=False),
    "index entries": lambda: _search(indexed=True),
    "logs level filter": lambda: _logs("INFO", None),
    "logs keyword filter": lambda: _logs(None, "line 2"),
    "ndjson": _ndjson,
    "index build": _build,
}


@pytest.mark.parametrize("name", LOOPS)
def test_every_loop_stops_at_the_deadline(name: str) -> None:
    # Given the work of one route (or of the indexer) over a few chunks and row groups
    work = LOOPS[name]()
    # (it runs to the end when there is time)
    work()

    # When the invocation has less time left than the margin kept for answering
    with invocation_deadline(_NoTimeLeft()), pytest.raises(DeadlineExceeded) as stopped:
        # Then the work stops with the 503 instead of running into the function's timeout
        work()
    assert stopped.value.status == 503 and stopped.value.retry_after > 0


@pytest.mark.slow
def test_a_tiny_nested_file_is_503_before_the_timeout_not_500(make_token, tmp_path) -> None:
    # Given ~40 KB of parquet holding 2.5 M list<struct> rows in 50 row groups (its text is
    # rendered value by value: far more work than any timeout allows)
    run = new_run()
    put_bytes(run, "extract/attempt=1/data_000.parquet", nested_parquet())
    put_metadata(run, rows=2_500_000, chunks=1)
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    # 10 s: room for the first request's lazy imports on a loaded machine; the scan needs far more
    with serving(["--timeout", "10", "--instances", "1"], env, tmp_path / "stderr.log") as url:
        search = url + phase_path(run, "extract", "/data")
        headers = {"Authorization": f"Bearer {make_token()}"}
        # A warm function (imports done, footer cached): the deadline, not the cold start, is tested
        assert requests.get(search, headers=headers, params={"limit": 1}, timeout=120).status_code == 200

        # When a keyword is searched (no index: a scan)
        answer = requests.get(search, headers=headers, params={"keyword": "needle"}, timeout=120)

        # Then the function answered 503 in time, not the gateway's 500 for a killed function
        assert answer.status_code == 503, answer.text[:300]
        assert answer.json()["code"] == "deadline_exceeded"
        assert int(answer.headers["Retry-After"]) > 0
        # and the worker is free again at once: the next request is answered
        assert requests.get(search, headers=headers, params={"limit": 1}, timeout=120).status_code == 200


# -- decompression bombs -------------------------------------------------------------------------


@pytest.fixture
def bomb() -> RunRef:
    """A completed attempt whose one data chunk is ~1 KB that decodes to 256 MiB."""
    artifact_store().listings.clear()
    run = new_run()
    put_bytes(run, "extract/attempt=1/data_000.parquet", bomb_parquet())
    put_metadata(run, rows=64, chunks=1)
    return run


@pytest.mark.parametrize("params", [{}, {"keyword": "x"}, {"columns": "blob", "limit": 40}])
def test_a_decompression_bomb_is_422_too_expensive(api, bomb: RunRef, params: dict[str, Any]) -> None:
    # When a page of the bomb (or a keyword scan over it) is asked for
    answer = api.get(phase_path(bomb, "extract", "/data"), params=params)

    # Then the answer is refused before the data is decoded, pointing at the download
    assert answer.status_code == 422, answer.text[:300]
    body = answer.json()
    assert (body["code"], body["status"]) == ("too_expensive", 422)
    assert "download" in body["detail"]


@pytest.mark.parametrize("params", [{}, {"keyword": "x"}, {"level": "INFO", "keyword": "x"}])
def test_a_logs_bomb_is_422_too_expensive(api, params: dict[str, Any]) -> None:
    run = new_run()
    put_bytes(run, "extract/attempt=1/logs_000.parquet", bomb_parquet("message"))
    put_metadata(run)

    answer = api.get(phase_path(run, "extract", "/logs"), params=params)

    assert answer.status_code == 422 and answer.json()["code"] == "too_expensive"


def test_an_event_file_bomb_is_422_too_expensive(api) -> None:
    run = new_run()
    put_bytes(run, "event/event.parquet", bomb_parquet())

    answer = api.get(run_path(run, "/event"))

    assert answer.status_code == 422 and answer.json()["code"] == "too_expensive"


def test_a_page_of_the_bombs_other_columns_is_answered(api, bomb: RunRef) -> None:
    # A page whose own rows decode to little is fine: only what is read and decoded counts
    answer = api.get(phase_path(bomb, "extract", "/data"), params={"columns": "id", "limit": 64})
    assert answer.status_code == 200
    assert [row["id"] for row in answer.json()["rows"]] == list(range(64))


def test_a_compression_bomb_is_refused_from_its_footer(api, via_proxy: Any, monkeypatch) -> None:
    # Given a chunk whose plain-encoded column compresses 2 MiB to a few bytes, with a bound of 1 MiB
    run = new_run()
    sink = io.BytesIO()
    table = pa.table({"blob": ["y" * (64 * 1024)] * 32})
    pq.write_table(table, sink, compression="zstd", use_dictionary=False)
    put_bytes(run, "extract/attempt=1/data_000.parquet", sink.getvalue())
    put_metadata(run, rows=32, chunks=1)
    monkeypatch.setenv("DECODE_MAX_BYTES", str(1024 * 1024))
    get_settings.cache_clear()
    via_proxy.clear()

    # When a page is asked for
    answer = api.get(phase_path(run, "extract", "/data"), params={"limit": 1})

    # Then the footer's uncompressed sizes refuse it: its column chunks were never fetched
    assert answer.status_code == 422 and answer.json()["code"] == "too_expensive"
    assert via_proxy.traffic().by_file["data_*"][0] == 1  # the footer's GET only


def test_the_indexer_refuses_a_bomb_once_without_retry(bomb: RunRef, caplog) -> None:
    from etl_artifacts.indexing.handler import lambda_handler
    from etl_artifacts.indexing.queue import index_build_message
    from etl_artifacts_local.lambda_runtime import LocalLambdaContext

    bucket = get_settings().artifacts_bucket
    metadata_key = bomb.prefix(get_settings().artifacts_prefix) + single_file("extract", 1, "metadata")
    event = {
        "Records": [
            {"messageId": "m-1", "eventSource": "aws:sqs", "body": index_build_message(bucket, metadata_key)}
        ]
    }

    # When the indexer gets the attempt's build message
    result = lambda_handler(event, LocalLambdaContext(function_name="IndexerFunction", timeout_s=300))

    # Then the message counts as processed (SQS does not retry it) and nothing was written
    assert result["batchItemFailures"] == []
    objects = _objects(bomb)
    assert objects.index is None and not objects.extra
    assert "DECODE_MAX_BYTES" in caplog.text


# -- index builds not multiplied -------------------------------------------------------------------


@pytest.fixture
def index_queue(s3_server: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=s3_server.endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"bounded-{abs(hash(request.node.name))}")["QueueUrl"]
    monkeypatch.setenv("INDEX_QUEUE_URL", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", s3_server.endpoint)
    get_settings.cache_clear()
    reset_store()

    def messages() -> int:
        count = 0
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not got:
                return count
            count += len(got)

    yield messages
    reset_store()


def _scan_out_of_time(run: RunRef) -> None:
    from etl_artifacts.phases.service import search_matches

    with invocation_deadline(_NoTimeLeft()), pytest.raises(DeadlineExceeded):
        search_matches(artifact_store(), _objects(run), "needle", 0, 10)


def test_a_build_is_queued_once_per_attempt_and_window(index_queue: Any, monkeypatch) -> None:
    # Given an attempt without index, searched out of time three times
    run = new_run()
    put_chunks(run, "data", [_words(200)])
    put_metadata(run, rows=200, chunks=1)
    for _ in range(3):
        _scan_out_of_time(run)

    # Then one build was queued
    assert index_queue() == 1

    # When a chunk is rewritten (other sources), a build for the new chunks is queued
    put_chunks(run, "data", [_words(201)])
    _scan_out_of_time(run)
    assert index_queue() == 1

    # and with a window of 0 every such request queues one
    monkeypatch.setenv("INDEX_QUEUE_DEDUP_S", "0")
    get_settings.cache_clear()
    _scan_out_of_time(run)
    _scan_out_of_time(run)
    assert index_queue() == 2


def test_search_never_queues_and_the_service_says_when_to_retry(index_queue: Any, monkeypatch) -> None:
    from etl_artifacts.phases.service import INDEX_BUILD_RETRY_AFTER_S, search_matches
    from etl_artifacts.search import search_data

    run = new_run()
    put_chunks(run, "data", [_words(200)])
    put_metadata(run, rows=200, chunks=1)
    default_retry = DeadlineExceeded().retry_after
    # Search alone only reads: out of time, it raises and queues nothing
    with invocation_deadline(_NoTimeLeft()), pytest.raises(DeadlineExceeded) as searched:
        search_data(artifact_store(), _objects(run), "needle", 0, 10)
    assert searched.value.retry_after == default_retry and index_queue() == 0
    # The service queues the build and says to retry once it is likely built
    with invocation_deadline(_NoTimeLeft()), pytest.raises(DeadlineExceeded) as queued:
        search_matches(artifact_store(), _objects(run), "needle", 0, 10)
    assert queued.value.retry_after == INDEX_BUILD_RETRY_AFTER_S and index_queue() == 1
    # Without a queue there is no build to wait for
    monkeypatch.delenv("INDEX_QUEUE_URL")
    get_settings.cache_clear()
    with invocation_deadline(_NoTimeLeft()), pytest.raises(DeadlineExceeded) as unqueued:
        search_matches(artifact_store(), _objects(run), "needle", 0, 10)
    assert unqueued.value.retry_after == default_retry


def test_the_indexer_skips_an_attempt_whose_index_is_current(via_proxy: Any) -> None:
    # Given an indexed attempt
    run = new_run()
    put_chunks(run, "data", [_words(300)], row_group_size=100)
    put_metadata(run, rows=300, chunks=1)
    assert _index(run).skipped is False

    # When the build runs again, nothing is built or written
    via_proxy.clear()
    again = _index(run)
    assert again.skipped is True and again.rows == 0
    assert [r for r in via_proxy.recorded() if r.method == "PUT"] == []

    # But once a chunk changed, the index is built again
    put_chunks(run, "data", [_words(301)], row_group_size=100)
    rebuilt = _index(run)
    assert rebuilt.skipped is False and rebuilt.rows == 301


# -- answers as listed now -------------------------------------------------------------------------


def _rng_words(rnd: random.Random, count: int) -> list[str]:
    return ["".join(rnd.choices(string.ascii_lowercase, k=8)) for _ in range(count)]


def test_a_chunk_rewritten_after_indexing_is_searched_as_listed_now(api) -> None:
    # Given an indexed attempt whose search was answered once (its listing is kept)
    rnd = random.Random(7)
    run = new_run()
    words = _rng_words(rnd, 300)
    words[10] = words[20] = words[30] = "the needle"
    put_chunks(run, "data", [pa.table({"word": words})], row_group_size=100)
    put_metadata(run, rows=300, chunks=1)
    _index(run)
    url = phase_path(run, "extract", "/data")
    first = api.get(url, params={"keyword": "needle"})
    assert first.headers["X-Search-Mode"] in ("index", "trigram")
    assert first.json()["total_rows"] == 3

    # When the chunk is rewritten with one needle more (the index is stale now)
    words[40] = "another needle"
    put_chunks(run, "data", [pa.table({"word": words})], row_group_size=100)

    # Then the next search answers as a fresh listing does: 4 matches, by a scan (page 1 holds
    # no rows: only the count tells the stale index from the data)
    again = api.get(url, params={"keyword": "needle", "page": 1})
    assert again.json()["total_rows"] == 4
    assert again.headers["X-Search-Mode"] == "scan"
    # and so does a page (the rows of the rewritten chunk)
    assert api.get(url, params={"limit": 50}).json()["rows"][40]["word"] == "another needle"
