"""A page's rows as CSV or as an Arrow IPC stream (docs/api.md "Formats").

Both render the same ``pa.Table`` the JSON page is built from (the page's rows, conformed to the
chunks' unified schema), so the three formats always hold the same rows in the same order:

- CSV (RFC 4180 through the ``csv`` module: CRLF line ends, fields quoted only when they need
  it): a header row of column names, then every value exactly as the JSON page renders it
  (``render.render_array``), written as text: strings as themselves, ``true``/``false``,
  numbers as JSON prints them, nested values as compact JSON; null (and NaN/Inf, which JSON
  shows as null) is an empty field. Spreadsheets run a cell that begins with ``=``, ``+``,
  ``-``, ``@``, TAB or CR as a formula: such a text cell (a string or binary value, or a column
  name) is written with a leading ``'`` unless the caller asks for the values as stored
  (``csv_formulas=raw``). Numbers, decimals and times are never text cells: ``-1`` stays ``-1``.
- Arrow: the table itself through pyarrow's IPC stream writer, so every column keeps the type
  it has in parquet (timestamps with their zone, date32, decimals, structs...).
"""

from __future__ import annotations

import csv
import io

import pyarrow as pa

from etl_artifacts.parquet.render import render_array, render_value_text

# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(table: pa.Table, *, escape_formulas: bool = True) -> str:
    """``table`` as an RFC 4180 document with a header row, values rendered as in the JSON page;
    with ``escape_formulas``, text cells that a spreadsheet would run as a formula get a leading ``'``.

    A table without columns (an attempt without such chunks) is the empty document.
    """
    if not table.column_names:
        return ""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_defused(name) if escape_formulas else name for name in table.column_names])
    columns = [
        [_cell(value, escape_formulas and _is_text(column.type)) for value in render_array(column)]
        for column in table.columns
    ]
    writer.writerows(zip(*columns, strict=True))
    return out.getvalue()


def _is_text(arrow_type: pa.DataType) -> bool:
    """Columns whose rendered strings are free text: not decimals or times (written as strings
    in JSON, but always a number or a date a spreadsheet reads as such)."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return not (pa.types.is_decimal(arrow_type) or pa.types.is_temporal(arrow_type))


def _defused(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _cell(value: object, escape: bool) -> str:
    # The JSON page's value as text; null is the empty field. Only strings are text: numbers,
    # booleans and nested values (JSON text, starting with a digit, a letter, `{` or `[`) are not.
    text = render_value_text(value)
    if text is None:
        return ""
    return _defused(text) if escape and isinstance(value, str) else text


def arrow_stream(table: pa.Table) -> bytes:
    """``table`` as one Arrow IPC stream (schema message, record batches, end-of-stream marker)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())
