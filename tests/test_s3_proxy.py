"""The S3 proxy shared by the tests and the benchmarks: depth arithmetic, recording and counting
through a real S3 server (moto over HTTP), the latency it adds and its fault modes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from etl_artifacts_local.s3_proxy import S3Proxy, Traffic, request_depth
from etl_artifacts_local.services import MotoS3Server

BUCKET = "proxy-test"


# -- depth, without I/O ----------------------------------------------------------------------------
def test_depth_of_nothing_is_zero() -> None:
    assert request_depth([]) == 0


def test_sequential_requests_chain() -> None:
    assert request_depth([(0, 1), (1, 2), (2.5, 3)]) == 3


def test_overlapping_requests_count_once() -> None:
    # A LIST, then ten footers read at once, then one row group.
    footers = [(1.1 + i * 0.01, 2.0 + i * 0.01) for i in range(10)]
    assert request_depth([(0, 1), *footers, (2.2, 3)]) == 3


def test_depth_follows_the_longest_chain_not_the_first() -> None:
    # One long request beside a chain of three short ones.
    assert request_depth([(0, 10), (0, 1), (1, 2), (2, 3), (10, 11)]) == 4


# -- through a real S3 server ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def proxy(s3_server: MotoS3Server) -> Iterator[S3Proxy]:
    with S3Proxy(s3_server.endpoint) as started:
        yield started


@pytest.fixture
def client(proxy: S3Proxy) -> object:
    s3 = boto3.client(
        "s3",
        endpoint_url=proxy.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local-secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, s3={"addressing_style": "path"}),
    )
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="run/extract/attempt=1/data_000.parquet", Body=b"x" * 1000)
    s3.put_object(Bucket=BUCKET, Key="run/extract/attempt=1/metadata.parquet", Body=b"m" * 10)
    proxy.mode, proxy.only, proxy.latency_s = "pass", None, 0.0
    proxy.clear()
    return s3


def test_counts_lists_ranges_bytes_and_depth(proxy: S3Proxy, client: object) -> None:
    # Given a LIST, then a ranged GET and a whole-object GET that wait on each other
    client.list_objects_v2(Bucket=BUCKET, Prefix="run/extract/")  # type: ignore[attr-defined]
    key = "run/extract/attempt=1/data_000.parquet"
    client.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-99")["Body"].read()  # type: ignore[attr-defined]
    client.get_object(Bucket=BUCKET, Key="run/extract/attempt=1/metadata.parquet")["Body"].read()  # type: ignore[attr-defined]

    # Then the proxy saw three sequential requests, and exactly the bytes of the answers
    traffic = proxy.traffic()
    assert (traffic.requests, traffic.lists, traffic.gets, traffic.range_gets) == (3, 1, 2, 1)
    assert traffic.by_file == {"data_*": [1, 100], "metadata.parquet": [1, 10]}
    assert traffic.depth == 3
    assert proxy.recorded()[0].key == "run/extract/"  # a LIST is recorded with its prefix
    assert proxy.targets()[1] == f"{BUCKET}/{key}"


def test_concurrent_requests_with_latency_are_one_round_trip(proxy: S3Proxy, client: object) -> None:
    # Given a warm client and a latency long enough that four requests sent together overlap
    key = "run/extract/attempt=1/data_000.parquet"
    client.get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[attr-defined]
    proxy.clear()
    proxy.latency_s = 1.0
    together = threading.Barrier(4)

    def get(_: int) -> bytes:
        together.wait(timeout=60)
        return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[attr-defined, no-any-return]

    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(get, range(4)))

    # Then every request was answered and the chain is one request deep (not four)
    assert bodies == [b"x" * 1000] * 4
    assert proxy.traffic().depth == 1
    assert all(r.ended is not None and r.ended - r.started >= 1.0 for r in proxy.recorded())


def test_error_mode_answers_s3s_500_only_for_the_requests_it_accepts(proxy: S3Proxy, client: object) -> None:
    proxy.mode = "error"
    proxy.only = lambda request: request.key.endswith("metadata.parquet")

    with pytest.raises(ClientError) as raised:
        client.get_object(Bucket=BUCKET, Key="run/extract/attempt=1/metadata.parquet")  # type: ignore[attr-defined]
    body = client.get_object(Bucket=BUCKET, Key="run/extract/attempt=1/data_000.parquet")["Body"].read()  # type: ignore[attr-defined]

    assert raised.value.response["Error"]["Code"] == "InternalError"
    assert body == b"x" * 1000
    assert [r.status for r in proxy.recorded()] == [500, 200]


def test_traffic_of_nothing_is_empty() -> None:
    assert Traffic.of([]) == Traffic()
