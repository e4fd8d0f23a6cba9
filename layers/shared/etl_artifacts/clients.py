"""Lazily created, cached clients: one per warm Lambda, swappable in tests.

Each factory imports its library on first use, so a function that never touches S3 (Runs,
Meta, Authorizer) never pays for importing boto3 or pyarrow.

S3 answers a burst with 503 SlowDown (and the odd 500): both clients retry with the AWS SDKs'
standard strategy (exponential backoff with jitter, throttling and transient errors only),
``S3_MAX_ATTEMPTS`` attempts in all. ``s3_call_budget_s`` is the worst case of one call; it stays
inside every S3-reading function's Timeout (tests/test_template.py).
"""

from __future__ import annotations

import sys
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from etl_artifacts.config import Settings, get_settings

if TYPE_CHECKING:
    from pyarrow.fs import S3FileSystem


def _s3_config(settings: Settings) -> Any:
    from botocore.config import Config

    return Config(
        region_name=settings.aws_region,
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_request_timeout_s,
        # botocore counts the first attempt too (the "total_max_attempts" semantics).
        retries={"total_max_attempts": settings.s3_max_attempts, "mode": "standard"},
        signature_version="s3v4",
        # Path-style works against any endpoint, including local S3 servers.
        s3={"addressing_style": "path"} if settings.aws_endpoint_url_s3 else {},
    )


def _aws_client(service: str, *, connect_timeout: float, read_timeout: float, max_attempts: int) -> Any:
    """A boto3 client for ``service`` (AWS_ENDPOINT_URL_<SERVICE>, which botocore reads, points it at a
    local server) with bounded timeouts and the SDKs' standard retries, ``max_attempts`` in all."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        region_name=settings.aws_region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
    )
    session: Any = boto3.session.Session()
    return session.client(service, region_name=settings.aws_region, config=config)


@lru_cache(maxsize=1)
def s3_client() -> Any:
    """boto3 S3 client honouring AWS_ENDPOINT_URL_S3 / AWS_REGION, with bounded timeouts."""
    import boto3

    settings = get_settings()
    return boto3.session.Session().client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url_s3,
        config=_s3_config(settings),
    )


def s3_client_with_credentials(access_key_id: str, secret_access_key: str, session_token: str) -> Any:
    """An S3 client like ``s3_client()`` that signs with the given (temporary) credentials."""
    import boto3

    settings = get_settings()
    session = boto3.session.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        region_name=settings.aws_region,
    )
    return session.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url_s3,
        config=_s3_config(settings),
    )


@lru_cache(maxsize=1)
def sts_client() -> Any:
    """STS (regional endpoint, botocore's default; AWS_ENDPOINT_URL_STS points it at a local server)."""
    settings = get_settings()
    return _aws_client(
        "sts",
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_request_timeout_s,
        max_attempts=3,
    )


@lru_cache(maxsize=1)
def sqs_client() -> Any:
    """boto3 SQS client for queueing index builds: short timeouts, one retry (it runs on a deadline)."""
    return _aws_client("sqs", connect_timeout=1.0, read_timeout=1.0, max_attempts=2)


@lru_cache(maxsize=1)
def kms_client() -> Any:
    """KMS for signing seals (AWS_ENDPOINT_URL_KMS points it at a local server), bounded timeouts."""
    return _aws_client("kms", connect_timeout=2.0, read_timeout=5.0, max_attempts=3)


@lru_cache(maxsize=1)
def events_client() -> Any:
    """EventBridge for the outbox (AWS_ENDPOINT_URL_EVENTBRIDGE): one quick attempt, since a failed
    send is simply left in the outbox for the next drain."""
    return _aws_client("events", connect_timeout=1.0, read_timeout=2.0, max_attempts=1)


# The limiter fails open rather than wait (docs/limits.md): short timeouts (RATE_LIMIT_TIMEOUT_S), one retry.
DYNAMODB_MAX_ATTEMPTS = 2
_dynamodb_lock = threading.Lock()


@lru_cache(maxsize=1)
def _dynamodb_client() -> Any:
    settings = get_settings()
    return _aws_client(
        "dynamodb",
        connect_timeout=settings.rate_limit_timeout_s,
        read_timeout=settings.rate_limit_timeout_s,
        max_attempts=DYNAMODB_MAX_ATTEMPTS,
    )


def dynamodb_client() -> Any:
    """DynamoDB client of the per-tenant limiter (created once; it is first called from a pool thread)."""
    with _dynamodb_lock:
        return _dynamodb_client()


#: Threads of pyarrow's I/O pool (process-wide); threads waiting on S3 cost memory, not CPU.
ARROW_IO_THREADS = 32


def arrow_filesystem(settings: Settings) -> S3FileSystem:
    """A new pyarrow S3 client (the artifact store keeps one). pyarrow ignores AWS_ENDPOINT_URL_S3,
    so the endpoint is passed explicitly."""
    import pyarrow as pa
    from pyarrow import fs

    # Range reads wait in pyarrow's I/O pool (8 threads by default): with more, the row groups of
    # a page of matches (one read each) are all fetched in one round trip.
    pa.set_io_thread_count(max(pa.io_thread_count(), ARROW_IO_THREADS))

    kwargs: dict[str, Any] = {
        "region": settings.aws_region,
        "connect_timeout": settings.s3_connect_timeout_s,
        "request_timeout": settings.s3_request_timeout_s,
        # The AWS C++ SDK's standard strategy, as botocore's above (same attempt count).
        "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=settings.s3_max_attempts),
        "allow_bucket_creation": False,
        "allow_bucket_deletion": False,
        # Our keys are fixed; the background existence checks of parent "directories" are waste.
        "check_directory_existence_before_creation": False,
    }
    if settings.aws_endpoint_url_s3:
        endpoint = urlsplit(settings.aws_endpoint_url_s3)
        kwargs["endpoint_override"] = endpoint.netloc or endpoint.path
        kwargs["scheme"] = endpoint.scheme or "https"
        kwargs["force_virtual_addressing"] = False
    return fs.S3FileSystem(**kwargs)


# botocore's standard mode sleeps random(0, 1) x 2^(attempt - 1) seconds, capped at 20 s, between
# attempts; the AWS C++ SDK's standard strategy (pyarrow) sleeps less (25 ms x 2^attempt).
_MAX_BACKOFF_S = 20.0


def s3_call_budget_s(settings: Settings | None = None) -> float:
    """Upper bound of one S3 call's wall time with every retry: attempts x (connect + request) + backoff."""
    settings = settings or get_settings()
    attempts = settings.s3_max_attempts
    backoff = sum(min(_MAX_BACKOFF_S, 2.0 ** (n - 1)) for n in range(1, attempts))
    return attempts * (settings.s3_connect_timeout_s + settings.s3_request_timeout_s) + backoff


def reset_clients() -> None:
    """Forget cached clients (tests, or after the configuration changed)."""
    s3_client.cache_clear()
    sqs_client.cache_clear()
    sts_client.cache_clear()
    _dynamodb_client.cache_clear()
    kms_client.cache_clear()
    events_client.cache_clear()
    # The artifact store (s3/artifact_store.py) follows by itself: it is rebuilt for a new S3 client.
    # The limiter's stores hold what they learnt from the old endpoint (full windows).
    tenant_gate = sys.modules.get("etl_artifacts.ratelimit.tenant_gate")
    if tenant_gate is not None:
        tenant_gate.forget_stores()
    # The signer's cached public keys came from the old KMS; the module is loaded only where it is used.
    kms_signer = sys.modules.get("etl_artifacts.lifecycle.kms_signer")
    if kms_signer is not None:
        kms_signer.public_key.cache_clear()
