"""The one wrapping point of storage failures: S3 (botocore), parquet (pyarrow, whose failure
classes are ``parquet.driver_errors.DRIVER_ERRORS``) and the local files they stage become the
API's ``StorageError`` here, logged once by type and action only (their text names buckets, keys
and URLs). Postgres failures are ``db``'s (``DatabaseError``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from etl_artifacts.errors import StorageError
from etl_artifacts.observability import logger


def storage_error(exc: BaseException, action: str) -> StorageError:
    """Log ``exc`` by type and build the API error to raise ``from exc``."""
    logger.warning("storage call failed", extra={"action": action, "error_type": type(exc).__name__})
    return StorageError()


def _s3_errors() -> tuple[type[BaseException], ...]:
    # Imported when a failure is being matched: only code that already uses boto3 gets here.
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, OSError)


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Around boto3 calls (and the files they stage): a botocore or OS failure is raised as
    ``StorageError``; API errors raised inside pass through."""
    try:
        yield
    except _s3_errors() as exc:
        raise storage_error(exc, action) from exc
