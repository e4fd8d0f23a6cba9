"""A page of rows numbered across chunks (CONTRACT §4 "Parquet pages"), reading only what it needs.

``total_rows`` and the position of every row group come from the footers (cached while the
function is warm); only the row groups overlapping the page are read, so a deep page costs what
page 0 costs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from etl_artifacts.errors import StorageError
from etl_artifacts.parquet.chunkset import ChunkSet
from etl_artifacts.parquet.paging import Ref, has_more, page_window
from etl_artifacts.parquet.render import columns_of, render_rows
from etl_artifacts.phases.models import ColumnInfo, ParquetPageResponse
from etl_artifacts.s3_listing import S3Object


def page_response(
    schema: pa.Schema, table: pa.Table, *, page: int, limit: int, total_rows: int
) -> ParquetPageResponse:
    return ParquetPageResponse(
        columns=[ColumnInfo(**column) for column in columns_of(schema)],
        rows=render_rows(table),
        page=page,
        limit=limit,
        total_rows=total_rows,
        has_more=has_more(page, limit, total_rows),
    )


def page_of(objects: Sequence[S3Object], *, page: int, limit: int) -> ParquetPageResponse:
    """Page ``page`` of every row of ``objects``."""
    chunks = ChunkSet(objects)
    table = chunks.read_range(*page_window(page, limit))
    return page_response(chunks.schema, table, page=page, limit=limit, total_rows=chunks.total_rows)


def page_of_refs(
    objects: Sequence[S3Object], refs: Sequence[Ref], *, page: int, limit: int, total_rows: int
) -> ParquetPageResponse:
    """A page holding the rows ``refs`` of ``objects`` (a page of matches among ``total_rows``)."""
    chunks = ChunkSet(objects)
    try:
        table = chunks.take(refs)
    except ValueError as exc:
        # Refs naming rows the chunks do not have: the store changed under the search.
        raise StorageError() from exc
    return page_response(chunks.schema, table, page=page, limit=limit, total_rows=total_rows)
