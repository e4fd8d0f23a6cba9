"""Every arrow type rendered as JSON (the values rules of docs/api.md) end to end: a parquet file
on the S3 server read through the gateway's data route (the renderer's unit tests:
tests/unit/test_phases_render.py)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pyarrow as pa
from etl_artifacts.s3.layout import chunk_file
from phases_helpers import new_run, phase_path, put_metadata, put_table

UTC = dt.UTC


def test_every_type_through_the_data_route(api):
    run = new_run()
    put_metadata(run)
    moment = dt.datetime(2026, 11, 20, 10, 15, 30, 123456, tzinfo=UTC)
    table = pa.table(
        {
            "i": pa.array([7], pa.int32()),
            "f": pa.array([math.nan]),
            "s": pa.array(["text"]),
            "b": pa.array([True]),
            "ts": pa.array([moment], pa.timestamp("us", tz="UTC")),
            "ts_naive": pa.array([moment.replace(tzinfo=None)], pa.timestamp("ms")),
            "d": pa.array([dt.date(2026, 11, 20)]),
            "t": pa.array([dt.time(23, 59, 58, 250000)], pa.time64("us")),
            "dur": pa.array([dt.timedelta(seconds=90, microseconds=500000)], pa.duration("us")),
            "dec": pa.array([Decimal("3.14")], pa.decimal128(5, 2)),
            "bin": pa.array([b"\x01\x02"]),
            "cat": pa.array(["red"]).dictionary_encode(),
            "st": pa.array(
                [{"k": 1, "v": [1.5]}], pa.struct([("k", pa.int64()), ("v", pa.list_(pa.float64()))])
            ),
            "m": pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int64())),
            "empty": pa.array([None], pa.string()),
        }
    )
    put_table(run, chunk_file("extract", 1, "data", 0), table)
    body = api.get(phase_path(run, suffix="/data")).json()
    assert body["rows"] == [
        {
            "i": 7,
            "f": None,
            "s": "text",
            "b": True,
            "ts": "2026-11-20T10:15:30.123456+00:00",
            "ts_naive": "2026-11-20T10:15:30.123000",
            "d": "2026-11-20",
            "t": "23:59:58.250000",
            "dur": 90.5,
            "dec": "3.14",
            "bin": "AQI=",
            "cat": "red",
            "st": {"k": 1, "v": [1.5]},
            "m": {"a": 1},
            "empty": None,
        }
    ]
    types = {column["name"]: column["type"] for column in body["columns"]}
    assert types["ts"] == "timestamp[us, tz=UTC]"
    assert types["dec"] == "decimal128(5, 2)"
    assert types["cat"] == "string"
    assert types["m"].startswith("map<string, int64")  # str() of the type read back from parquet
