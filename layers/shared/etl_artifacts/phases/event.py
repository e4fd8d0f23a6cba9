"""The run's event files (docs/api.md "Event"): both read concurrently, each whole (they are small)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow.fs import FileSystem

from etl_artifacts.errors import ArtifactNotFound
from etl_artifacts.parquet.decoded import (
    PAGE_COPIES,
    check_decoded,
    decoded_bytes,
    dictionary_columns,
    stored_bytes,
)
from etl_artifacts.parquet.driver_errors import DRIVER_ERRORS
from etl_artifacts.parquet.pool import map_concurrently
from etl_artifacts.parquet.render import render_rows
from etl_artifacts.phases.models import EventResponse
from etl_artifacts.s3.artifact_store import ArtifactStore
from etl_artifacts.s3.layout import EVENT_KINDS, RunRef
from etl_artifacts.storage_errors import storage_error


def _read(filesystem: FileSystem, key: str) -> list[dict[str, Any]] | None:
    """Rows of one event file, ``None`` when it does not exist."""
    try:
        # Small files: one GET of the whole object (after pyarrow's HEAD), then parse in memory,
        # instead of a range GET for the footer and more for the column chunks.
        with filesystem.open_input_file(key) as handle:
            data = handle.read()
        parquet = pq.ParquetFile(pa.BufferReader(data))
        metadata = parquet.metadata
        # Small on disk is not small decoded (parquet.decoded): bounded before and after reading.
        check_decoded(stored_bytes(metadata, range(metadata.num_row_groups), None))
        dictionaries = dictionary_columns(metadata, parquet.schema_arrow)
        table = pq.ParquetFile(pa.BufferReader(data), metadata=metadata, read_dictionary=dictionaries).read()
    except FileNotFoundError:
        return None
    except DRIVER_ERRORS as exc:
        raise storage_error(exc, "event") from exc
    check_decoded(decoded_bytes(table), PAGE_COPIES)
    return render_rows(table)


def read_event(store: ArtifactStore, run: RunRef) -> EventResponse:
    prefix = f"{store.bucket}/{run.prefix(store.prefix)}"
    keys = [prefix + EVENT_KINDS["event-queue-data"], prefix + EVENT_KINDS["event-event"]]
    filesystem = store.filesystem
    # Both files at once: pyarrow releases the GIL while it waits on S3.
    queue_data, event = map_concurrently(lambda key: _read(filesystem, key), keys)
    if queue_data is None and event is None:
        raise ArtifactNotFound()
    return EventResponse(queue_data=queue_data, event=event)
