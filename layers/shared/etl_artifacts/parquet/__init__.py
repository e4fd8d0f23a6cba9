"""Reading parquet artifacts for the Phases function: footers, pages, rendering, logs, event.

Importing this package is cheap (no pyarrow): the modules that need pyarrow import it themselves,
and route modules import them inside the route functions.

- ``footers``: pyarrow's S3 client, cached footers, ``open_parquet``, ``read_row_groups``, ``read_rows``.
- ``pages``: a page of rows numbered across chunks, reading only the row groups that hold it.
- ``render``: the one place where arrow values become JSON values (CONTRACT §4 "Values").
- ``logs``: level/keyword filters pushed into the read, JSON pages and NDJSON with continuation.
- ``cursor``: HMAC-signed continuation tokens.
- ``event``: the run's event files, read concurrently.
- ``models``: the pydantic response models (no pyarrow).
"""
