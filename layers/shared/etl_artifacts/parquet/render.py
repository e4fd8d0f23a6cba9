"""The one place where arrow values become JSON values (docs/api.md "Values").

Conversion is column-wise: a converter is chosen once per column type and applied to the whole
column, with pyarrow compute doing the work where it can (timestamps, dates, times, decimals,
non-finite floats), so a page costs a handful of vectorised calls per column, not a type test
per cell.

Rules (the same for pages, NDJSON, the event route and the search text):

- timestamps: ISO-8601 like ``datetime.isoformat()``: ``2026-11-20T10:15:30.123456+00:00`` with
  the offset when the type has a time zone, none otherwise; the fraction is omitted when zero and
  has 6 digits (9 when a nanosecond column has sub-microsecond digits);
- dates ``YYYY-MM-DD``; times ``HH:MM:SS[.ffffff]`` (same fraction rule);
- durations: seconds as a number (an integer for second-unit columns);
- decimals: strings (``"12.30"``, the column's scale); binary: base64; NaN/±Inf: null;
- integers, booleans, strings: themselves; float32/float16: the shortest decimal that
  round-trips at that precision (``0.1``, not ``0.10000000149011612``);
- structs: objects; lists: arrays; maps: objects whose keys are the keys' text
  (``render_value_text``); dictionary-encoded columns: decoded; extension types: their storage.

``render_value_text`` gives the text of one rendered value as keyword search sees it.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

# Zones rendered as "+00:00" without a time-zone database (it may be absent on the Lambda image).
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "utc", "Z", "+00:00", "Etc/GMT", "GMT", "Etc/Zulu", "Zulu"})
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_DATETIME = "%Y-%m-%dT%H:%M:%S"

ArrayLike: TypeAlias = "pa.Array | pa.ChunkedArray"


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def column_type(arrow_type: pa.DataType) -> str:
    """The ``type`` reported in ``columns``: dictionary columns are reported as their value type
    (the rows carry decoded values)."""
    if pa.types.is_dictionary(arrow_type):
        return str(arrow_type.value_type)
    return str(arrow_type)


def columns_of(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": field.name, "type": column_type(field.type)} for field in schema]


def render_array(array: ArrayLike) -> list[Any]:
    """JSON-ready Python values of one column, in order."""
    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 1:
            return _convert(array.chunk(0))
        values: list[Any] = []
        for chunk in array.chunks:
            values.extend(_convert(chunk))
        return values
    return _convert(array)


def render_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows of ``table`` as JSON objects (column order kept)."""
    if table.num_rows == 0:
        return []
    names = table.column_names
    columns = [render_array(column) for column in table.columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def render_value_text(value: Any) -> str | None:
    """Text of one rendered value for search: strings as themselves, ``true``/``false``, numbers as
    JSON prints them, nested values as compact JSON; null and NaN/Inf are ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def dumps_row(row: dict[str, Any]) -> str:
    """One rendered row as a compact JSON line (NDJSON)."""
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Column converters
# ---------------------------------------------------------------------------------------------
def _convert(array: pa.Array) -> list[Any]:
    return _converter(array.type)(array)


def _converter(arrow_type: pa.DataType) -> Callable[[pa.Array], list[Any]]:
    t = pa.types
    if t.is_null(arrow_type):
        return lambda a: [None] * len(a)
    if t.is_boolean(arrow_type) or t.is_integer(arrow_type) or _is_string(arrow_type):
        return _plain
    if t.is_float64(arrow_type):
        return _float64
    if t.is_floating(arrow_type):
        return _short_float
    if t.is_decimal(arrow_type):
        return _as_string
    if _is_binary(arrow_type):
        return _binary
    if t.is_timestamp(arrow_type):
        return _timestamp
    if t.is_date(arrow_type):
        return _date
    if t.is_time(arrow_type):
        return _time
    if t.is_duration(arrow_type):
        return _duration
    if t.is_dictionary(arrow_type):
        return lambda a: _convert(a.dictionary_decode())
    if t.is_struct(arrow_type):
        return _struct
    if t.is_map(arrow_type):
        return _map
    if t.is_list(arrow_type) or t.is_large_list(arrow_type) or t.is_fixed_size_list(arrow_type):
        return _list
    if t.is_list_view(arrow_type) or t.is_large_list_view(arrow_type):
        return lambda a: _list(a.cast(pa.large_list(arrow_type.value_field)))
    if isinstance(arrow_type, pa.ExtensionType):
        return lambda a: _convert(a.storage)
    if t.is_run_end_encoded(arrow_type):
        return lambda a: _convert(pc.run_end_decode(a))
    return _fallback


def _is_string(arrow_type: pa.DataType) -> bool:
    t = pa.types
    return bool(t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_string_view(arrow_type))


def _is_binary(arrow_type: pa.DataType) -> bool:
    t = pa.types
    return bool(
        t.is_binary(arrow_type)
        or t.is_large_binary(arrow_type)
        or t.is_fixed_size_binary(arrow_type)
        or t.is_binary_view(arrow_type)
    )


def _plain(array: pa.Array) -> list[Any]:
    return list(array.to_pylist())


def _as_string(array: pa.Array) -> list[Any]:
    return list(pc.cast(array, pa.string()).to_pylist())


def _float64(array: pa.Array) -> list[Any]:
    if array.null_count == len(array):
        return [None] * len(array)
    finite = pc.is_finite(array)
    if not pc.all(finite).as_py():
        array = pc.if_else(finite, array, pa.scalar(None, array.type))
    return list(array.to_pylist())


def _short_float(array: pa.Array) -> list[Any]:
    # Arrow prints the shortest text that round-trips at the column's own precision.
    text = pc.cast(array, pa.string()).to_pylist()
    values: list[Any] = []
    for item in text:
        if item is None:
            values.append(None)
            continue
        number = float(item)
        values.append(number if math.isfinite(number) else None)
    return values


def _binary(array: pa.Array) -> list[Any]:
    return [None if item is None else base64.b64encode(item).decode("ascii") for item in array.to_pylist()]


def _fraction(nanos: pa.Array) -> pa.Array:
    """``""``, ``.ffffff`` or ``.fffffffff`` for sub-second parts given in nanoseconds (>= 0)."""
    micros = pc.divide(nanos, 1_000)
    exact_micro = pc.equal(pc.multiply(micros, 1_000), nanos)
    six = pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(micros, pa.string()), 6, "0"), "")
    nine = pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(nanos, pa.string()), 9, "0"), "")
    return pc.if_else(pc.equal(nanos, 0), "", pc.if_else(exact_micro, six, nine))


def iso_clock(naive: pa.Array, whole_format: str) -> pa.Array:
    """``strftime`` of whole seconds plus the isoformat-style fraction, for a tz-naive timestamp."""
    unit = naive.type.unit
    seconds = pc.floor_temporal(naive, unit="second")
    whole = pc.strftime(seconds.cast(pa.timestamp("s")), format=whole_format)
    sub = pc.subtract(naive.cast(pa.int64()), seconds.cast(pa.int64()))
    nanos = pc.multiply(sub, 1_000_000_000 // _PER_SECOND[unit])
    return pc.binary_join_element_wise(whole, _fraction(nanos), "")


def _utc_text(array: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(
        iso_clock(array.cast(pa.timestamp(array.type.unit)), _DATETIME), "+00:00", ""
    )


# The three time formatters below are shared with the searchable text (``search.text``), so the
# page and the search render time alike.
def timestamp_text(array: pa.Array) -> pa.Array:
    """``datetime.isoformat()``-style text of a timestamp array (offset when it has a zone).

    Raises ``ArrowInvalid``/``ArrowNotImplementedError`` for a zone Arrow does not know.
    """
    tz = array.type.tz
    if tz is None:
        return iso_clock(array, _DATETIME)
    if tz in _UTC_NAMES:
        return _utc_text(array)
    wall = iso_clock(pc.local_timestamp(array), _DATETIME)
    return pc.binary_join_element_wise(wall, pc.strftime(array, format="%Ez"), "")


def time_text(array: pa.Array) -> pa.Array:
    """``HH:MM:SS[.ffffff]`` of a time32/time64 array."""
    ticks = array.cast(pa.int32() if pa.types.is_time32(array.type) else pa.int64()).cast(pa.int64())
    # A time of day is a timestamp on 1970-01-01: reuse the timestamp formatting.
    return iso_clock(ticks.cast(pa.timestamp(array.type.unit)), "%H:%M:%S")


def duration_seconds(array: pa.Array) -> pa.Array:
    """Durations in seconds: int64 for second-unit columns, else float64."""
    ticks = array.cast(pa.int64())
    unit = array.type.unit
    return ticks if unit == "s" else pc.divide(ticks.cast(pa.float64()), float(_PER_SECOND[unit]))


def _timestamp(array: pa.Array) -> list[Any]:
    if array.null_count == len(array):
        return [None] * len(array)
    try:
        return list(timestamp_text(array).to_pylist())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Arrow could not find the zone: Python's zoneinfo may; else the instant in UTC.
        try:
            return [None if v is None else v.isoformat() for v in array.to_pylist()]
        except Exception:
            return list(_utc_text(array).to_pylist())


def _date(array: pa.Array) -> list[Any]:
    return list(pc.strftime(array, format="%Y-%m-%d").to_pylist())


def _time(array: pa.Array) -> list[Any]:
    return list(time_text(array).to_pylist())


def _duration(array: pa.Array) -> list[Any]:
    return list(duration_seconds(array).to_pylist())


def _struct(array: pa.StructArray) -> list[Any]:
    names = [array.type.field(i).name for i in range(array.type.num_fields)]
    # flatten() applies the struct's own offset and validity to its children.
    children = [_convert(child) for child in array.flatten()]
    rows: list[Any] = [dict(zip(names, values, strict=True)) for values in zip(*children, strict=True)]
    if not names:
        rows = [{} for _ in range(len(array))]
    if array.null_count:
        valid = array.is_valid().to_pylist()
        rows = [row if ok else None for row, ok in zip(rows, valid, strict=True)]
    return rows


def _split(values: list[Any], lengths: list[int | None]) -> list[Any]:
    out: list[Any] = []
    position = 0
    for length in lengths:
        if length is None:
            out.append(None)
            continue
        out.append(values[position : position + length])
        position += length
    return out


def _list(array: pa.Array) -> list[Any]:
    # list_flatten honours slicing and skips the values behind null lists.
    return _split(_convert(pc.list_flatten(array)), pc.list_value_length(array).to_pylist())


def _map(array: pa.MapArray) -> list[Any]:
    map_type = array.type
    entry = pa.struct([pa.field("key", map_type.key_type, nullable=False), map_type.item_field])
    as_list = array.cast(pa.list_(entry))
    entries = pc.list_flatten(as_list)
    keys = [render_value_text(k) for k in _convert(entries.field("key"))]
    items = _convert(entries.field(map_type.item_field.name))
    pairs = list(zip(keys, items, strict=True))
    return [
        None if chunk is None else {("" if k is None else k): v for k, v in chunk}
        for chunk in _split(pairs, pc.list_value_length(as_list).to_pylist())
    ]


def _fallback(array: pa.Array) -> list[Any]:
    """Types without a vectorised converter (unions, intervals): per value."""
    return [_jsonable(value) for value in array.to_pylist()]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)
