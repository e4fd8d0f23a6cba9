"""A page's rows as CSV or as an Arrow IPC stream (CONTRACT §10 "Formats").

Both render the same ``pa.Table`` the JSON page is built from (the page's rows, conformed to the
chunks' unified schema), so the three formats always hold the same rows in the same order:

- CSV (RFC 4180 through the ``csv`` module: CRLF line ends, fields quoted only when they need
  it): a header row of column names, then every value exactly as the JSON page renders it
  (``render.render_array``), written as text: strings as themselves, ``true``/``false``,
  numbers as JSON prints them, nested values as compact JSON; null (and NaN/Inf, which JSON
  shows as null) is an empty field.
- Arrow: the table itself through pyarrow's IPC stream writer, so every column keeps the type
  it has in parquet (timestamps with their zone, date32, decimals, structs...).
"""

from __future__ import annotations

import csv
import io

import pyarrow as pa

from etl_artifacts.parquet.render import render_array, render_value_text


def csv_text(table: pa.Table) -> str:
    """``table`` as an RFC 4180 document with a header row, values rendered as in the JSON page.

    A table without columns (an attempt without such chunks) is the empty document.
    """
    if not table.column_names:
        return ""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.column_names)
    columns = [[_cell(value) for value in render_array(column)] for column in table.columns]
    writer.writerows(zip(*columns, strict=True))
    return out.getvalue()


def _cell(value: object) -> str:
    # The JSON page's value as text; null is the empty field.
    text = render_value_text(value)
    return "" if text is None else text


def arrow_stream(table: pa.Table) -> bytes:
    """``table`` as one Arrow IPC stream (schema message, record batches, end-of-stream marker)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())
