"""JSON rendering of every arrow type (docs/api.md "Values"): unit tests of the one renderer (the
same values end to end through the data route: tests/test_phases_values.py)."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from etl_artifacts.parquet.render import columns_of, render_array, render_rows, render_value_text

UTC = dt.UTC


def one(array: pa.Array) -> list:
    return render_array(array)


# -- scalars ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (pa.array([1, None, -(2**63)], pa.int64()), [1, None, -(2**63)]),
        (pa.array([2**64 - 1], pa.uint64()), [2**64 - 1]),
        (pa.array([1, 2], pa.int8()), [1, 2]),
        (pa.array([True, False, None]), [True, False, None]),
        (pa.array(["a", None, "é\n"]), ["a", None, "é\n"]),
        (pa.array(["x"], pa.large_string()), ["x"]),
        (pa.array(["v"], pa.string_view()), ["v"]),
        (pa.array([1.5, math.nan, math.inf, -math.inf, None]), [1.5, None, None, None, None]),
        (pa.array([0.1, math.nan, None], pa.float32()), [0.1, None, None]),
        (pa.array([1.5], pa.float16()), [1.5]),
        (
            pa.array([Decimal("12.30"), Decimal("-0.05"), None], pa.decimal128(10, 2)),
            ["12.30", "-0.05", None],
        ),
        (pa.array([Decimal("1e30")], pa.decimal256(40, 0)), ["1000000000000000000000000000000"]),
        (pa.array([b"\x00\xff", b"", None]), ["AP8=", "", None]),
        (pa.array([b"ab"], pa.large_binary()), ["YWI="]),
        (pa.array([b"abc"], pa.binary(3)), ["YWJj"]),
        (pa.array([dt.date(2026, 11, 20), None], pa.date32()), ["2026-11-20", None]),
        (pa.array([dt.date(1, 1, 1)], pa.date64()), ["0001-01-01"]),
        (
            pa.array([dt.time(10, 15, 30), dt.time(0, 0, 0, 1), None], pa.time64("us")),
            ["10:15:30", "00:00:00.000001", None],
        ),
        (pa.array([3723], pa.time32("s")), ["01:02:03"]),
        (pa.array([3723500], pa.time32("ms")), ["01:02:03.500000"]),
        (pa.array([1, 1_000], pa.time64("ns")), ["00:00:00.000000001", "00:00:00.000001"]),
        (pa.array([1500, -1, None], pa.duration("ms")), [1.5, -0.001, None]),
        (pa.array([90], pa.duration("s")), [90]),
        (pa.array([1], pa.duration("ns")), [1e-09]),
        (pa.nulls(2), [None, None]),
    ],
    ids=str,
)
def test_scalar_types(array, expected):
    assert one(array) == expected


def test_timestamps_are_iso_8601_with_offset_when_zoned():
    moment = dt.datetime(2026, 11, 20, 10, 15, 30, 123456, tzinfo=UTC)
    assert one(pa.array([moment, None], pa.timestamp("us", tz="UTC"))) == [
        "2026-11-20T10:15:30.123456+00:00",
        None,
    ]
    assert one(pa.array([moment], pa.timestamp("us", tz="Europe/Paris"))) == [
        "2026-11-20T11:15:30.123456+01:00"
    ]
    summer = dt.datetime(2026, 7, 1, tzinfo=UTC)
    assert one(pa.array([summer], pa.timestamp("s", tz="Europe/Paris"))) == ["2026-07-01T02:00:00+02:00"]
    assert one(pa.array([moment], pa.timestamp("ms", tz="+05:30"))) == ["2026-11-20T15:45:30.123000+05:30"]
    naive = dt.datetime(2026, 11, 20, 10, 15, 30)
    assert one(pa.array([naive], pa.timestamp("us"))) == ["2026-11-20T10:15:30"]
    before_epoch = dt.datetime(1969, 12, 31, 23, 59, 59, 500000)
    assert one(pa.array([before_epoch], pa.timestamp("us"))) == ["1969-12-31T23:59:59.500000"]
    assert one(pa.array([1, 1_000, 0], pa.timestamp("ns", tz="UTC"))) == [
        "1970-01-01T00:00:00.000000001+00:00",
        "1970-01-01T00:00:00.000001+00:00",
        "1970-01-01T00:00:00+00:00",
    ]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_timestamps_match_python_isoformat(zone):
    moments = [dt.datetime(2026, m, 3, 4, 5, 6, 789 * m, tzinfo=UTC) for m in range(1, 13)]
    array = pa.array(moments, pa.timestamp("us", tz=zone))
    assert one(array) == [m.astimezone(ZoneInfo(zone)).isoformat() for m in moments]


# -- nested and encoded ----------------------------------------------------------------------
def test_nested_values_are_json_objects_and_arrays():
    struct = pa.array(
        [{"x": 1, "when": dt.date(2026, 1, 2), "tags": ["a"]}, None, {"x": None, "when": None, "tags": None}],
        pa.struct([("x", pa.int64()), ("when", pa.date32()), ("tags", pa.list_(pa.string()))]),
    )
    assert one(struct) == [
        {"x": 1, "when": "2026-01-02", "tags": ["a"]},
        None,
        {"x": None, "when": None, "tags": None},
    ]
    lists = pa.array([[1.5, math.nan], [], None], pa.large_list(pa.float64()))
    assert one(lists) == [[1.5, None], [], None]
    fixed = pa.array([[1, 2], None], pa.list_(pa.int32(), 2))
    assert one(fixed) == [[1, 2], None]
    nested = pa.array([[[b"\x01"]], [[], None]], pa.list_(pa.list_(pa.binary())))
    assert one(nested) == [[["AQ=="]], [[], None]]


def test_maps_are_objects_with_string_keys():
    by_text = pa.array([[("k", Decimal("1.10"))], [], None], pa.map_(pa.string(), pa.decimal128(5, 2)))
    assert one(by_text) == [{"k": "1.10"}, {}, None]
    by_int = pa.array([[(1, "a"), (2, None)]], pa.map_(pa.int32(), pa.string()))
    assert one(by_int) == [{"1": "a", "2": None}]
    by_date = pa.array([[(dt.date(2026, 1, 1), True)]], pa.map_(pa.date32(), pa.bool_()))
    assert one(by_date) == [{"2026-01-01": True}]


def test_sliced_arrays_render_their_own_values():
    lists = pa.array([[1], [2, 3], None, [4]]).slice(1, 2)
    assert one(lists) == [[2, 3], None]
    maps = pa.array([[("a", 1)], [("b", 2)], None], pa.map_(pa.string(), pa.int64())).slice(1)
    assert one(maps) == [{"b": 2}, None]
    struct = pa.array([{"x": 1}, None, {"x": 3}], pa.struct([("x", pa.int64())])).slice(1)
    assert one(struct) == [None, {"x": 3}]


def test_dictionary_encoded_columns_are_decoded():
    array = pa.array(["b", "a", None, "b"]).dictionary_encode()
    assert one(array) == ["b", "a", None, "b"]
    assert columns_of(pa.schema([("level", array.type)])) == [{"name": "level", "type": "string"}]


def test_chunked_columns_and_rows():
    table = pa.table({"id": pa.chunked_array([[1, 2], [3]]), "t": pa.chunked_array([["a"], ["b", None]])})
    assert render_rows(table) == [{"id": 1, "t": "a"}, {"id": 2, "t": "b"}, {"id": 3, "t": None}]
    assert render_rows(table.slice(3)) == []


def test_fallback_types_are_still_json():
    interval = pa.array([pa.MonthDayNano([1, 2, 3])], pa.month_day_nano_interval())
    assert one(interval) == [[1, 2, 3]]
    union = pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])])
    assert one(union) == [1, "b"]
    json.dumps(one(interval) + one(union))


# -- search text of one value ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("Hello", "Hello"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (12, "12"),
        (-0.5, "-0.5"),
        (1.0, "1.0"),
        (1e20, "1e+20"),
        (math.nan, None),
        (math.inf, None),
        ({"a": [1, "é", None]}, '{"a":[1,"é",null]}'),
        ([], "[]"),
    ],
)
def test_render_value_text(value, text):
    assert render_value_text(value) == text
