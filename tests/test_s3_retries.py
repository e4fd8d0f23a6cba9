"""S3 under load: a transient S3 error (503 SlowDown, 500 InternalError) is retried by both S3
clients, boto3 and pyarrow's own, up to ``S3_MAX_ATTEMPTS`` (3) attempts, through a proxy in front
of moto's server that fails the first requests and then passes."""

from __future__ import annotations

import threading
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TEST_BUCKET
from etl_artifacts.clients import s3_client
from etl_artifacts.s3.artifact_store import artifact_store
from security_helpers import S3Proxy, S3Request


class _FirstRequests:
    """Accepts (= fails) the first ``count`` requests for ``key``, then lets everything pass."""

    def __init__(self, key: str, count: int) -> None:
        self.key, self.left = key, count
        self._lock = threading.Lock()

    def __call__(self, request: S3Request) -> bool:
        with self._lock:
            if request.key != self.key or self.left == 0:
                return False
            self.left -= 1
            return True


def _put(key: str) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": [1, 2, 3]}), sink)
    body = sink.getvalue().to_pybytes()
    s3_client().put_object(Bucket=TEST_BUCKET, Key=key, Body=body)
    return body


def _requests_for(proxy: S3Proxy, key: str) -> int:
    return sum(1 for request in proxy.requests if request.key == key)


@pytest.mark.parametrize("failures", [1, 2])
def test_boto3_retries_transient_errors_up_to_three_attempts(base_env, via_proxy, failures):
    key = f"retries/{uuid.uuid4()}.parquet"
    body = _put(key)
    via_proxy.mode, via_proxy.only = "error", _FirstRequests(key, failures)
    via_proxy.clear()
    try:
        answer = s3_client().get_object(Bucket=TEST_BUCKET, Key=key)
        assert answer["Body"].read() == body
    finally:
        via_proxy.mode, via_proxy.only = "pass", None
    assert _requests_for(via_proxy, key) == failures + 1


def test_boto3_gives_up_after_three_attempts(base_env, via_proxy):
    from botocore.exceptions import ClientError

    key = f"retries/{uuid.uuid4()}.parquet"
    _put(key)
    via_proxy.mode, via_proxy.only = "error", _FirstRequests(key, 3)
    via_proxy.clear()
    try:
        with pytest.raises(ClientError):
            s3_client().get_object(Bucket=TEST_BUCKET, Key=key)
    finally:
        via_proxy.mode, via_proxy.only = "pass", None
    assert _requests_for(via_proxy, key) == 3


def test_pyarrow_retries_with_the_same_attempt_count(base_env, via_proxy):
    key = f"retries/{uuid.uuid4()}.parquet"
    _put(key)
    via_proxy.mode, via_proxy.only = "error", _FirstRequests(key, 2)
    via_proxy.clear()
    try:
        with artifact_store().filesystem.open_input_file(f"{TEST_BUCKET}/{key}") as handle:
            assert pq.ParquetFile(handle).metadata.num_rows == 3
    finally:
        via_proxy.mode, via_proxy.only = "pass", None
    assert _requests_for(via_proxy, key) >= 3
