"""Lazily created, cached clients: one per warm Lambda, swappable in tests.

Each factory imports its library on first use, so a function that never touches S3 (Runs,
Meta, Authorizer) never pays for importing boto3 or pyarrow.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from etl_artifacts.config import get_settings

if TYPE_CHECKING:
    from pyarrow.fs import S3FileSystem


@lru_cache(maxsize=1)
def s3_client() -> Any:
    """boto3 S3 client honouring AWS_ENDPOINT_URL_S3 / AWS_REGION, with bounded timeouts."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        region_name=settings.aws_region,
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_request_timeout_s,
        retries={"max_attempts": 2, "mode": "standard"},
        signature_version="s3v4",
        # Path-style works against any endpoint, including local S3 servers.
        s3={"addressing_style": "path"} if settings.aws_endpoint_url_s3 else {},
    )
    return boto3.session.Session().client(
        "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url_s3, config=config
    )


@lru_cache(maxsize=1)
def sqs_client() -> Any:
    """boto3 SQS client for queueing index builds: short timeouts, no retry (it runs on a deadline)."""
    import boto3
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        region_name=settings.aws_region,
        connect_timeout=1.0,
        read_timeout=1.0,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return boto3.session.Session().client("sqs", region_name=settings.aws_region, config=config)


@lru_cache(maxsize=1)
def arrow_s3() -> S3FileSystem:
    """pyarrow's own S3 client. It ignores AWS_ENDPOINT_URL_S3, so the endpoint is passed explicitly."""
    from pyarrow import fs

    settings = get_settings()
    kwargs: dict[str, Any] = {
        "region": settings.aws_region,
        "connect_timeout": settings.s3_connect_timeout_s,
        "request_timeout": settings.s3_request_timeout_s,
        "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=2),
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


def reset_clients() -> None:
    """Forget cached clients (tests, or after the configuration changed)."""
    s3_client.cache_clear()
    sqs_client.cache_clear()
    arrow_s3.cache_clear()
