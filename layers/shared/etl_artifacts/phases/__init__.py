"""The Phases family's logic: one function per route in ``service``, called once by the route.

Importing this package is cheap (no pyarrow): ``models`` is pydantic only; the other modules
import pyarrow, and the routes import them inside the route functions.

- ``service``: ``event``, ``metadata_page``, ``data_page``, ``errors_page``, ``logs_page``,
  ``logs_ndjson`` — list the attempt, read through ``parquet.chunkset.ChunkSet`` / ``search``.
- ``pages``: a page of rows (a range, or the rows a search found) as a ``ParquetPageResponse``.
- ``logs``: level/keyword filters pushed into the read, cached matches, NDJSON bodies.
- ``continuation_tokens``: the HMAC-signed NDJSON continuation tokens.
- ``event``: the run's event files, read concurrently.
- ``models``: the pydantic response models.
"""
