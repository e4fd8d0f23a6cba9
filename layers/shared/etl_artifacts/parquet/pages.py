"""A page of rows numbered across chunks (CONTRACT §4 "Parquet pages"), reading only what it needs.

``total_rows`` and the position of every row group come from the footers (cached while the
function is warm); only the row groups overlapping ``[page*limit, page*limit+limit)`` are read,
so a deep page costs what page 0 costs.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from etl_artifacts.attempts import S3Object
from etl_artifacts.parquet import footers
from etl_artifacts.parquet.models import ColumnInfo, ParquetPageResponse
from etl_artifacts.parquet.render import columns_of, render_rows


def page_response(
    schema: pa.Schema, table: pa.Table, *, page: int, limit: int, total_rows: int
) -> ParquetPageResponse:
    return ParquetPageResponse(
        columns=[ColumnInfo(**column) for column in columns_of(schema)],
        rows=render_rows(table),
        page=page,
        limit=limit,
        total_rows=total_rows,
        has_more=(page + 1) * limit < total_rows,
    )


def read_range(objects: Sequence[S3Object], start: int, stop: int) -> tuple[pa.Schema, pa.Table, int]:
    """Rows ``[start, stop)`` of ``objects`` (numbered across them in order): schema, rows, total."""
    layout = footers.ChunkLayout.of(objects)
    schema = footers.unified_schema(objects)
    pieces = layout.row_groups_for(start, stop)
    # One read per object: its consecutive row groups, objects concurrently.
    plans: dict[int, list[tuple[int, int, int]]] = {}
    for obj_index, group, first, count in pieces:
        plans.setdefault(obj_index, []).append((group, first, count))

    def read(item: tuple[int, list[tuple[int, int, int]]]) -> pa.Table:
        obj_index, groups = item
        table = footers.read_row_groups(layout.objects[obj_index], [group for group, _, _ in groups])
        # The groups were read whole: keep the page's part of the first and last one.
        skip = groups[0][1]
        count = sum(count for _, _, count in groups)
        return table.slice(skip, count)

    tables = footers.map_concurrently(read, sorted(plans.items()))
    return schema, footers.concat(tables, schema), layout.total_rows


def page_of(objects: Sequence[S3Object], *, page: int, limit: int) -> ParquetPageResponse:
    start = page * limit
    schema, table, total = read_range(objects, start, start + limit)
    return page_response(schema, table, page=page, limit=limit, total_rows=total)
