"""What pyarrow raises when the artifact store cannot be read: the parquet read path catches these
and raises ``etl_artifacts.storage_errors.storage_error`` from them (the one wrapping point)."""

from __future__ import annotations

import pyarrow as pa

#: pyarrow raises OSError (S3, network, missing object) and ArrowException (corrupt files,
#: impossible casts); both mean "the artifact store could not be read".
DRIVER_ERRORS: tuple[type[BaseException], ...] = (OSError, pa.ArrowException)
