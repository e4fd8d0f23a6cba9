"""Reading parquet in S3: the reader object and what it is made of (no route logic here).

Importing this package is cheap (no pyarrow): the modules that need pyarrow import it themselves.

- ``chunkset``: ``ChunkSet(objects)``, chunks read as one table (``.schema``, ``.total_rows``,
  ``.read_row_groups()``, ``.read_range(start, stop, columns)``, ``.take(refs, columns)``,
  ``.projected_schema(columns)``); ``read_row_groups``, the
  one function that reads row data.
- ``footer_cache``: the warm function's footers, keyed by key + ETag + size.
- ``paging``: the pure arithmetic of pages, row groups and batches (no I/O).
- ``pool``: the one I/O thread pool (``map_concurrently``, ``ordered_map``).
- ``driver_errors``: what pyarrow raises (``DRIVER_ERRORS``), raised as ``StorageError`` through
  ``etl_artifacts.storage_errors``.
- ``render``: the one place where arrow values become JSON values (docs/api.md "Values").
- ``page_formats``: a page's rows as CSV (values as ``render`` makes them) or an Arrow IPC stream.
"""
