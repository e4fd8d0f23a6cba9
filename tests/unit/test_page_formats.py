"""CSV and Arrow renderings of a page and Accept negotiation (docs/api.md "Formats"): unit tests,
no I/O. The same checks over HTTP are in tests/test_phases_formats.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pyarrow as pa
import pytest
from etl_artifacts.api.negotiation import negotiate
from etl_artifacts.parquet.page_formats import arrow_stream, csv_text
from etl_artifacts.parquet.render import render_rows, render_value_text
from etl_artifacts.phases.models import ARROW_MEDIA_TYPE, CSV_MEDIA_TYPE

JSON = "application/json"
NDJSON = "application/x-ndjson"
PAGE_TYPES = (JSON, CSV_MEDIA_TYPE, ARROW_MEDIA_TYPE)


def awkward_table() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, None], pa.int64()),
            "text": ["plain", 'quote " comma , newline\n crlf\r\n', None],
            "unicode": ["é ü 漢字 😀", "", "tab\there"],
            "ok": [True, False, None],
            "ratio": pa.array([0.1, float("nan"), float("inf")], pa.float64()),
            "when": pa.array(
                [dt.datetime(2026, 11, 20, 10, 15, 30, 123456, tzinfo=dt.UTC), None, None],
                pa.timestamp("us", tz="UTC"),
            ),
            "day": pa.array([dt.date(2026, 11, 20), None, dt.date(1970, 1, 1)], pa.date32()),
            "amount": pa.array([Decimal("12.30"), None, Decimal("-0.05")], pa.decimal128(10, 2)),
            "nested": pa.array(
                [{"a": 1, "b": ["x", "y"]}, None, {"a": None, "b": []}],
                pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string()))]),
            ),
            "blob": pa.array([b"\x00\xff", None, b""], pa.binary()),
        }
    )


def test_csv_parses_back_to_the_json_values():
    table = awkward_table()
    text = csv_text(table)
    assert text.startswith("id,text,unicode,")
    assert "\r\n" in text
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == table.column_names
    expected = [
        ["" if (cell := render_value_text(value)) is None else cell for value in row.values()]
        for row in render_rows(table)
    ]
    assert parsed[1:] == expected
    assert parsed[1][table.column_names.index("nested")] == '{"a":1,"b":["x","y"]}'
    assert parsed[1][table.column_names.index("when")] == "2026-11-20T10:15:30.123456+00:00"
    assert parsed[1][table.column_names.index("amount")] == "12.30"
    assert parsed[2][table.column_names.index("ratio")] == ""  # NaN is null in JSON


def test_csv_of_an_empty_page_is_the_header():
    assert csv_text(awkward_table().slice(0, 0)) == ",".join(awkward_table().column_names) + "\r\n"


def test_arrow_stream_keeps_the_parquet_types():
    table = awkward_table()
    read = pa.ipc.open_stream(arrow_stream(table)).read_all()
    assert read.schema.equals(table.schema)
    # NaN != NaN: the float column is compared apart.
    assert read.drop_columns(["ratio"]).equals(table.drop_columns(["ratio"]))
    assert str(read.column("ratio").to_pylist()) == "[0.1, nan, inf]"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("text/csv", CSV_MEDIA_TYPE),
        ("TEXT/CSV; charset=utf-8", CSV_MEDIA_TYPE),
        ("text/*", CSV_MEDIA_TYPE),
        (ARROW_MEDIA_TYPE, ARROW_MEDIA_TYPE),
        ("text/csv;q=0.5, application/vnd.apache.arrow.stream;q=0.9", ARROW_MEDIA_TYPE),
        ("text/csv;q=0.5, */*;q=0.9", JSON),  # */* gives JSON 0.9 beats CSV 0.5
        ("text/csv;q=0, */*", JSON),
        ("text/csv;q=0.", JSON),
        ("text/csv;q=1.5", JSON),  # invalid q-value: the range is ignored
        ("text/csv;q=abc", JSON),
        ("text/csv;q=0.0001", JSON),
        ("text/html", JSON),  # nothing acceptable: the default
        ("application/json, text/csv", JSON),
        ("text/csv, application/json;q=0.8", CSV_MEDIA_TYPE),
        ("text/csv;q=0.3;level=1, application/json;q=0.2", CSV_MEDIA_TYPE),
        ("garbage", JSON),
    ],
)
def test_negotiation(accept, chosen):
    assert negotiate(accept, PAGE_TYPES) == chosen


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (NDJSON, NDJSON),
        (f"{NDJSON};q=0", JSON),
        (f"{NDJSON};q=0.", JSON),
        (f"{NDJSON};q=0.000", JSON),
        (f"{NDJSON};q=x", JSON),
        (f"{NDJSON};q=2", JSON),
        (f"application/*;q=0.5, {JSON};q=0.1", NDJSON),
    ],
)
def test_negotiation_of_ndjson(accept, chosen):
    assert negotiate(accept, (JSON, NDJSON)) == chosen
