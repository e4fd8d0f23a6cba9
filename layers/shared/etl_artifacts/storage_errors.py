"""The one wrapping point of storage failures: S3 (botocore), parquet (pyarrow) and the local
files they stage become the API's ``StorageError`` here, logged once by type and action only
(their text names buckets, keys and URLs). Postgres failures are ``db``'s (``DatabaseError``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from etl_artifacts.errors import StorageError
from etl_artifacts.observability import logger


def storage_error(exc: BaseException, action: str) -> StorageError:
    """Log ``exc`` by type and build the API error to raise ``from exc``."""
    logger.warning("storage call failed", extra={"action": action, "error_type": type(exc).__name__})
    return StorageError()


def driver_errors() -> tuple[type[BaseException], ...]:
    """What the storage drivers loaded in this process raise: a function that never imported
    pyarrow (or botocore) cannot meet its failures, and importing it to name them costs a cold start."""
    errors: list[type[BaseException]] = [OSError]
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None:
        errors += [botocore.BotoCoreError, botocore.ClientError]
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        errors.append(pyarrow.ArrowException)
    return tuple(errors)


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Inside, a storage driver's failure is raised as ``StorageError`` (API errors pass through)."""
    try:
        yield
    except driver_errors() as exc:
        raise storage_error(exc, action) from exc
