"""A page of rows numbered across chunks (docs/api.md "Parquet pages"), reading only what it needs.

``total_rows`` and the position of every row group come from the footers (cached while the
function is warm); only the row groups overlapping the page are read, so a deep page costs what
page 0 costs. With ``columns`` only those column chunks are fetched (docs/api.md); with
``order="desc"`` the page is counted from the last row, so it reads the row groups at the end.

A ``Page`` holds the rows as an arrow table in their parquet types: the route renders it as the
JSON page (``Page.body``), CSV or an Arrow stream (``parquet.page_formats``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from etl_artifacts.parquet.chunkset import ChunkSet
from etl_artifacts.parquet.paging import Ref, has_more, newest_first, page_window
from etl_artifacts.parquet.render import columns_of, render_rows
from etl_artifacts.phases.models import ColumnInfo, Order, ParquetPageResponse
from etl_artifacts.s3.artifact_store import ArtifactStore
from etl_artifacts.s3.listing import S3Object
from etl_artifacts.storage_errors import storage_error


@dataclass(frozen=True)
class Page:
    """The rows of one page (``table``, conformed to ``schema``) and the page's figures."""

    schema: pa.Schema
    table: pa.Table
    page: int
    limit: int
    total_rows: int

    @property
    def has_more(self) -> bool:
        return has_more(self.page, self.limit, self.total_rows)

    def body(self) -> ParquetPageResponse:
        return page_response(
            self.schema, self.table, page=self.page, limit=self.limit, total_rows=self.total_rows
        )


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


def reversed_rows(table: pa.Table) -> pa.Table:
    if table.num_rows <= 1:
        return table
    return table.take(pa.array(range(table.num_rows - 1, -1, -1), pa.int64()))


def page_of(
    store: ArtifactStore,
    objects: Sequence[S3Object],
    *,
    page: int,
    limit: int,
    columns: Sequence[str] | None = None,
    order: Order = "asc",
) -> Page:
    """Page ``page`` of every row of ``objects`` (only ``columns`` when given)."""
    chunks = ChunkSet(store, objects)
    start, stop = page_window(page, limit)
    if order == "desc":
        table = reversed_rows(chunks.read_range(*newest_first(start, stop, chunks.total_rows), columns))
    else:
        table = chunks.read_range(start, stop, columns)
    return Page(chunks.projected_schema(columns), table, page, limit, chunks.total_rows)


def page_of_refs(
    store: ArtifactStore,
    objects: Sequence[S3Object],
    refs: Sequence[Ref],
    *,
    page: int,
    limit: int,
    total_rows: int,
    columns: Sequence[str] | None = None,
) -> Page:
    """A page holding the rows ``refs`` of ``objects`` (a page of matches among ``total_rows``)."""
    chunks = ChunkSet(store, objects)
    try:
        table = chunks.take(refs, columns)
    except ValueError as exc:
        # Refs naming rows the chunks do not have: the store changed under the search.
        raise storage_error(exc, "take rows") from exc
    return Page(chunks.projected_schema(columns), table, page, limit, total_rows)
