"""Unit tests of the batch presigner and download names (no network: presigning is local work).

The batch presigner must produce exactly what ``generate_presigned_url`` produces, signature
included, once the clock is frozen: for path-style (local S3) and virtual-hosted (AWS) clients,
with session tokens, with botocore's pure-Python signer (what Lambda runs) and with the CRT
signer when awscrt is installed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.auth
import pytest
from artifacts_helpers import amz_date, query_params
from botocore.config import Config
from etl_artifacts.artifacts.presign import GetObjectPresigner, content_disposition, download_filename
from etl_artifacts.config import get_settings
from etl_artifacts.s3.artifact_store import ArtifactStore
from etl_artifacts.s3.layout import ArtifactRef, RunRef, parse_relative_key

FROZEN = dt.datetime(2026, 11, 20, 10, 11, 12, tzinfo=dt.UTC)
KEYS = [
    "acme/5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d/2026-11-20/manual__2026-11-20T10:00:00+00:00/extract/attempt=1/data_000.parquet",
    "acme/5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d/2026-11-20/run.v~1/event/queue_data.parquet",
    "t/with space & ünïcode/k'ey(1)*!.parquet",
]
RUN = RunRef(
    "acme",
    uuid.UUID("5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"),
    dt.date(2026, 11, 20),
    "manual__2026-11-20T10:00:00+00:00",
)


def _frozen_now(remove_tzinfo: bool = True) -> dt.datetime:
    return FROZEN.replace(tzinfo=None) if remove_tzinfo else FROZEN


@pytest.fixture(params=["python", "crt"])
def signer_flavour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Freeze botocore's clock; run once with the pure-Python signer and once with CRT's."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", _frozen_now)
    if request.param == "python":
        monkeypatch.setitem(botocore.auth.AUTH_TYPE_MAPS, "s3v4-query", botocore.auth.S3SigV4QueryAuth)
    else:
        crt_auth = pytest.importorskip("botocore.crt.auth")
        monkeypatch.setattr(crt_auth, "get_current_datetime", _frozen_now)
        if botocore.auth.AUTH_TYPE_MAPS["s3v4-query"] is botocore.auth.S3SigV4QueryAuth:
            pytest.skip("awscrt not installed")
    yield request.param


def _client(endpoint: str | None, token: str | None = None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        aws_session_token=token,
        region_name="eu-west-1",
    )
    # Ignore AWS_ENDPOINT_URL_S3 of other tests: "virtual-hosted" must mean real AWS endpoints.
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint else {},
        ignore_configured_endpoint_urls=True,
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:4566", None], ids=["path-style", "virtual-hosted"])
@pytest.mark.parametrize("token", ["session-token", None], ids=["sts", "static"])
def test_batch_urls_equal_generate_presigned_url(signer_flavour, endpoint, token):
    client = _client(endpoint, token)
    presigner = GetObjectPresigner(client, "artifacts-bucket", 900)
    assert presigner.fast
    for key in KEYS:
        filename = "a_b-c.parquet"
        expected = client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": "artifacts-bucket",
                "Key": key,
                "ResponseContentDisposition": content_disposition(filename),
            },
            ExpiresIn=900,
        )
        signed = presigner.presign(key, filename)
        assert signed.url == expected
        assert signed.signed_at == FROZEN
        assert signed.expires_at == FROZEN + dt.timedelta(seconds=900)
        assert query_params(signed.url)["X-Amz-Expires"] == "900"
        assert amz_date(signed.url) == FROZEN


def test_fallback_without_the_fast_path_still_signs(monkeypatch):
    monkeypatch.setattr(GetObjectPresigner, "_prepare", lambda self: None)
    presigner = GetObjectPresigner(_client("http://127.0.0.1:4566"), "bkt", 60)
    assert not presigner.fast
    signed = presigner.presign(KEYS[0], "x.parquet")
    params = query_params(signed.url)
    assert params["X-Amz-Expires"] == "60"
    assert params["response-content-disposition"] == 'attachment; filename="x.parquet"'
    assert signed.expires_at == amz_date(signed.url) + dt.timedelta(seconds=60)


def test_presigning_sends_nothing(monkeypatch):
    client = _client("http://127.0.0.1:9")  # discard port: any request would fail

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("presigning must not send a request")

    monkeypatch.setattr(client._endpoint, "make_request", refuse)
    presigner = GetObjectPresigner(client, "bkt", 300)
    for key in KEYS:
        presigner.presign(key, "x.parquet")


def test_download_filename_is_readable_and_header_safe():
    ref = parse_relative_key("extract/attempt=2/data_007.parquet")
    assert ref is not None
    assert download_filename(RUN, ref) == (
        "5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d_2026-11-20_manual__2026-11-20T10-00-00-00-00_"
        "extract-data_attempt2_007.parquet"
    )
    event = parse_relative_key("event/queue_data.parquet")
    assert event is not None
    assert download_filename(RUN, event).endswith("_event-queue-data.parquet")
    metadata = parse_relative_key("load/attempt=1/metadata.parquet")
    assert metadata is not None
    assert download_filename(RUN, metadata).endswith("_load-metadata_attempt1.parquet")
    trigrams = parse_relative_key("extract/attempt=1/index_trigrams.parquet")
    assert trigrams is not None
    assert download_filename(RUN, trigrams).endswith("_extract-index_trigrams_attempt1.parquet")


def test_download_filename_bounds_long_and_odd_names():
    long_run = RunRef("acme", RUN.dag_id, RUN.run_date, "r" * 250)
    odd = ArtifactRef(key='x/"quoted"\\.parquet', artifact_kind=None, phase=None, attempt=None, chunk=None)
    name = download_filename(long_run, odd)
    assert len(name) < 220
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    assert content_disposition(name) == f'attachment; filename="{name}"'


def test_pipeline_runs_once_per_client_and_bucket(monkeypatch):
    client = _client("http://127.0.0.1:4566")
    calls: list[str] = []
    original = client.generate_presigned_url

    def counting(*args: Any, **kwargs: Any) -> str:
        calls.append(kwargs["Params"]["Bucket"])
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "generate_presigned_url", counting)
    # The captured requests are kept in the warm function's store.
    store = ArtifactStore(get_settings(), client)
    for ttl in (60, 300, 3600):
        presigner = GetObjectPresigner(client, "bkt", ttl, store=store)
        assert query_params(presigner.presign(KEYS[0], "x.parquet").url)["X-Amz-Expires"] == str(ttl)
    GetObjectPresigner(client, "other-bkt", 60, store=store)
    assert calls == ["bkt", "other-bkt"]
