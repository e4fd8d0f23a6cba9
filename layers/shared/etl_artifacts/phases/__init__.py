"""The Phases family's logic: one function per route in ``service``, called once by the route.

Importing this package is cheap (no pyarrow): ``models`` is pydantic only; the other modules
import pyarrow, and the routes import them inside the route functions.

- ``service``: ``event``, ``metadata_page``, ``data_page``, ``errors_page``, ``logs_page``,
  ``logs_ndjson`` — list the attempt, read through ``parquet.chunkset.ChunkSet`` / ``search``.
- ``pages``: a ``Page`` of rows (a range, newest first, or the rows a search found; optionally
  projected to some columns): an arrow table the route renders as JSON, CSV or Arrow
  (``parquet.page_formats``).
- ``logs``: level/keyword filters pushed into the read, cached matches, NDJSON bodies (asc/desc,
  following a running attempt, counted as Lambda's payload).
- ``continuation_tokens``: NDJSON continuation tokens, HMAC-signed, bound to the request and to
  the chunks they have passed (pure: no S3, no pyarrow).
- ``event``: the run's event files, read concurrently.
- ``models``: the pydantic response models and the pages' media types.
"""
