"""How pyarrow's failures become the API's ``StorageError``, in one place."""

from __future__ import annotations

import pyarrow as pa

from etl_artifacts.errors import StorageError
from etl_artifacts.observability import logger

#: pyarrow raises OSError (S3, network, missing object) and ArrowException (corrupt files,
#: impossible casts); both mean "the artifact store could not be read".
DRIVER_ERRORS: tuple[type[BaseException], ...] = (OSError, pa.ArrowException)


def storage_error(exc: BaseException, action: str) -> StorageError:
    """Log the failure by type only (its text names the bucket and key) and build the API error
    to raise ``from exc``."""
    logger.warning("parquet read failed", extra={"action": action, "error_type": type(exc).__name__})
    return StorageError()
